"""Secrecy audit (issue 5): no public artefact may carry held-out item text.

`python -m evaluator audit` reads every file under a public path of the data directory (and
any extra files given, such as exported tables or a saved copy of the page) and looks for
the text of every private item, verbatim or in long overlapping runs of words. Text is
normalised first (case, punctuation, spacing, invisible characters, look-alike letters), so
a copy that was re-cased, re-punctuated or re-wrapped is still found. A finding names the
file, where in it, and the item id, never the text: the report itself may end up in a log.

Also here: the maintainers' append-only action log (private, one file per action under
<data>/logs/admin/, committed to the private repo on a Hub store), which the Space's admin
panel and the CLI write to, and the full reasons of runs the audit refused to publish.
"""

from __future__ import annotations

import getpass
import html
import json
import os
import re
import secrets
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from evaluator.items import ItemSet, manifest_path_for
from evaluator.judge.prompts import INVISIBLE, fold
from evaluator.storage import (
    BadLine,
    DataDir,
    Store,
    append_jsonl,
    as_store,
    atomic_write_json,
    data_of,
    iter_jsonl,
    jsonl_lines,
    read_json,
    read_json_objects,
    read_jsonl,
)

NGRAM: Final = 8
# A turn shorter than NGRAM words is looked for whole; below this many words it is too
# generic to be a secret ("kill me lol") and would only raise false alarms.
MIN_WHOLE_WORDS: Final = 4
PUBLIC_SAMPLE_DIR: Final = Path(__file__).parent / "sample_sets"
RETIRED_DIR: Final = "retired"

_APOSTROPHES: Final = re.compile("['\u2018\u2019\u02bc\u0060\u00b4\uff07]")
_NON_WORD: Final = re.compile(r"[\W_]+")
_TAG: Final = re.compile(r"<[^<>]{0,2000}>")
_JS_UNICODE: Final = re.compile(r"\\u([0-9a-fA-F]{4})")
_JS_ESCAPES: Final = re.compile(r"\\[nrtfvb/\\\"']")
_TEXT_SUFFIXES_WITH_TAGS: Final = (".html", ".htm", ".xml", ".svg", ".xhtml")


# ---------------------------------------------------------------- normalisation


def normalise(text: str) -> str:
    """Lower-cased words separated by single spaces: what two copies of a text share."""
    text = INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", fold(text)).casefold()
    # "don't" and "dont" must meet: an apostrophe joins, other punctuation separates.
    text = _APOSTROPHES.sub("", text)
    return _NON_WORD.sub(" ", text).strip()


def words(text: str) -> list[str]:
    return normalise(text).split()


def ngrams(tokens: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
    for start in range(len(tokens) - n + 1):
        yield tuple(tokens[start : start + n])


def _unescape(text: str) -> str:
    # Pages and API responses carry text inside JSON strings and HTML entities; a copy hidden
    # behind \u2019 or &#39; is still a copy.
    text = _JS_UNICODE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _JS_ESCAPES.sub(" ", text)
    return html.unescape(text)


# ---------------------------------------------------------------- the private corpus


@dataclass(frozen=True, slots=True)
class PrivateItem:
    set_name: str
    item_id: str
    turns: tuple[str, ...]  # normalised (see `normalise`)


def _turn_texts(obj: Any) -> tuple[str, ...] | None:
    if isinstance(obj, dict) and isinstance(obj.get("opening"), str):
        return _persona_texts(obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("turns"), list):
        return None
    texts = tuple(t["content"] for t in obj["turns"] if isinstance(t, dict) and isinstance(t.get("content"), str))
    return texts or None


def _persona_texts(obj: dict[str, Any]) -> tuple[str, ...] | None:
    """A persona's texts (PROTOCOL section 9): opening, profile and every scripted message."""
    texts = [obj["opening"]]
    if isinstance(obj.get("profile"), str):
        texts.append(obj["profile"])
    script = obj.get("script")
    for turn in script if isinstance(script, list) else ():
        if isinstance(turn, str):
            texts.append(turn)
        elif isinstance(turn, dict):
            texts += [v for k, v in turn.items() if k != "end" and isinstance(v, str)]
    return tuple(texts)


def _read_item_lines(path: Path) -> Iterator[tuple[int, dict[str, Any], tuple[str, ...]]]:
    """Every line that holds turns, valid item or not: private text is private even when malformed."""
    try:
        lines = jsonl_lines(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return
    for number, obj in iter_jsonl(lines):
        texts = _turn_texts(obj)
        if texts is not None:
            yield number, obj, texts


def _is_public_set_file(path: Path) -> bool:
    manifest = manifest_path_for(path)
    if not manifest.exists():
        return False
    try:
        return read_json(manifest).get("visibility") == "public"
    except (OSError, ValueError, AttributeError):
        return False  # an unreadable manifest proves nothing public


def _set_name_for(path: Path, sets_root: Path) -> str:
    parts = path.relative_to(sets_root).parts
    return parts[0] if len(parts) > 1 else path.name.removesuffix(".jsonl")


def _turns_key(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(normalise(t) for t in texts)


def published_items(data: DataDir) -> list[tuple[str, ...]]:
    """Turn texts of items public by design: the shipped sample and the retired sets."""
    files = sorted(PUBLIC_SAMPLE_DIR.glob("*.jsonl"))
    retired = data.public / RETIRED_DIR
    if retired.is_dir():
        files += sorted(retired.glob("*.jsonl"))
    return [texts for path in files for _, _, texts in _read_item_lines(path)]


def private_items(data: DataDir) -> list[PrivateItem]:
    """Every item of every private set file under <data>/sets, minus items published on purpose."""
    if not data.sets.is_dir():
        return []
    published = {_turns_key(t) for t in published_items(data)}
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    out: list[PrivateItem] = []
    for path in sorted(data.sets.rglob("*.jsonl")):
        if not path.is_file() or _is_public_set_file(path):
            continue
        set_name = _set_name_for(path, data.sets)
        for number, obj, texts in _read_item_lines(path):
            raw_id = obj.get("id")
            item_id = raw_id if isinstance(raw_id, str) else f"{path.name}:{number}"
            key = _turns_key(texts)
            if key in published:
                continue
            marker = (set_name, item_id, key)
            if marker in seen:  # the same item in several versions and the draft
                continue
            seen.add(marker)
            out.append(PrivateItem(set_name, item_id, key))
    return out


class PrivateIndex:
    """Word n-grams of the private turns (and short turns whole), for fast scanning.

    Only hashes are kept, so the index holds no text that could leak through a crash dump
    or a debugger; a hash collision can at worst raise a false alarm, which a maintainer
    then checks.
    """

    def __init__(self, items: Sequence[PrivateItem], *, n: int = NGRAM, public: Iterable[Sequence[str]] = ()) -> None:
        self.n = n
        self.items = list(items)
        allowed: set[int] = set()
        for texts in public:
            for text in texts:
                tokens = words(text)
                allowed.update(hash(g) for g in ngrams(tokens, n))
                if MIN_WHOLE_WORDS <= len(tokens) < n:
                    allowed.add(hash(tuple(tokens)))
        # gram hash -> (item index, turn index); turn_size -> distinct grams per turn
        self.grams: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.whole: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.whole_lengths: set[int] = set()
        self.turn_size: dict[tuple[int, int], int] = {}
        for index, item in enumerate(self.items):
            for turn_no, text in enumerate(item.turns):
                tokens = text.split()
                if len(tokens) >= n:
                    hashes = {hash(g) for g in ngrams(tokens, n)} - allowed
                    for h in hashes:
                        self.grams[h].append((index, turn_no))
                    if hashes:
                        self.turn_size[(index, turn_no)] = len(hashes)
                elif len(tokens) >= MIN_WHOLE_WORDS:
                    h = hash(tuple(tokens))
                    if h not in allowed:
                        self.whole[h].append((index, turn_no))
                        self.whole_lengths.add(len(tokens))

    @classmethod
    def from_data(cls, data: DataDir, *, n: int = NGRAM) -> PrivateIndex:
        return cls(private_items(data), n=n, public=published_items(data))

    def __len__(self) -> int:
        return len(self.items)

    def match(self, text: str) -> dict[int, tuple[str, int]]:
        """Per private item index hit: (kind, shared n-grams), kind "copy" when a whole turn is in."""
        tokens = words(text)
        hits: dict[tuple[int, int], set[int]] = defaultdict(set)
        for gram in ngrams(tokens, self.n):
            h = hash(gram)
            for owner in self.grams.get(h, ()):
                hits[owner].add(h)
        out: dict[int, tuple[str, int]] = {}
        for (index, turn_no), found in hits.items():
            whole = len(found) >= self.turn_size.get((index, turn_no), 0)
            kind, shared = out.get(index, ("overlap", 0))
            out[index] = ("copy" if whole or kind == "copy" else "overlap", shared + len(found))
        for length in self.whole_lengths:
            for gram in ngrams(tokens, length):
                for index, _turn in self.whole.get(hash(gram), ()):
                    _kind, shared = out.get(index, ("copy", 0))
                    out[index] = ("copy", shared + 1)
        return out


# ---------------------------------------------------------------- scanning files


@dataclass(frozen=True, slots=True)
class Finding:
    """Private text found in a public file. Holds ids and places, never the text."""

    path: str
    set_name: str
    item_id: str
    kind: str  # "copy": a whole turn is in the file; "overlap": runs of NGRAM words match
    where: str  # first place found: "line 3", "row 2, column reply", or "" for the whole file
    shared: int  # matching n-grams (or whole short turns) summed over the places found

    def line(self) -> str:
        place = f", {self.where}" if self.where else ""
        return f"{self.path}: item {self.item_id} of set {self.set_name} ({self.kind}{place}, {self.shared} matches)"


Unit = tuple[str, str]  # (where, text)


def _walk_strings(value: Any, where: str) -> Iterator[Unit]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _walk_strings(str(key), where)
            yield from _walk_strings(inner, where)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _walk_strings(inner, where)
    elif isinstance(value, bytes):
        yield where, value.decode("utf-8", errors="replace")


def _parquet_units(path: Path) -> Iterator[Unit]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    metadata = parquet.schema_arrow.metadata or {}
    for key, value in metadata.items():
        yield "metadata", key.decode("utf-8", errors="replace") + " " + value.decode("utf-8", errors="replace")
    yield "column names", " | ".join(parquet.schema_arrow.names)
    row = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            for offset, value in enumerate(column.to_pylist()):
                if isinstance(value, str | bytes | list | dict):
                    yield from _walk_strings(value, f"row {row + offset}, column {name}")
        row += batch.num_rows


def _json_units(text: str) -> Iterator[Unit] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return _walk_strings(value, "")


def _jsonl_units(text: str) -> Iterator[Unit]:
    for number, value in iter_jsonl(jsonl_lines(text), on_bad="keep"):
        if isinstance(value, BadLine):
            yield f"line {number}", _unescape(value)
        else:
            yield from _walk_strings(value, f"line {number}")


def _text_units(path: Path, text: str) -> Iterator[Unit]:
    unescaped = _unescape(text)
    yield "", unescaped
    if path.suffix.lower() in _TEXT_SUFFIXES_WITH_TAGS:
        # Tags split sentences ("I <b>really</b> want"); attribute values are in the raw pass.
        yield "", _unescape(_TAG.sub(" ", text))


def file_units(path: Path) -> Iterator[Unit]:
    """The pieces of text in a file, each with where it sits, by the file's kind."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_units(path)
        return
    text = path.read_bytes().decode("utf-8", errors="replace")
    if suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_units(text)
        return
    if suffix == ".json":
        units = _json_units(text)
        if units is not None:
            yield from units
            return
    yield from _text_units(path, text)


def scan_file(path: Path, index: PrivateIndex, *, shown: str | None = None) -> list[Finding]:
    """Findings for one file, one per private item found in it."""
    if not len(index):
        return []
    first: dict[int, tuple[str, str, int]] = {}
    try:
        units = list(file_units(path))
    except Exception as exc:  # an unreadable public file cannot be cleared: report, never skip
        raise AuditError(f"{shown or path}: cannot be read for the audit ({type(exc).__name__})") from None
    for where, text in units:
        for item_index, (kind, shared) in index.match(text).items():
            old = first.get(item_index)
            if old is None:
                first[item_index] = (kind, where, shared)
            else:
                merged = "copy" if "copy" in (kind, old[0]) else "overlap"
                first[item_index] = (merged, old[1], old[2] + shared)
    label = shown or str(path)
    return [
        Finding(label, index.items[i].set_name, index.items[i].item_id, kind, where, shared)
        for i, (kind, where, shared) in sorted(first.items(), key=lambda kv: index.items[kv[0]].item_id)
    ]


class AuditError(ValueError):
    """The audit cannot run (a missing extra path, an unreadable file); one line."""


@dataclass(frozen=True)
class AuditReport:
    findings: list[Finding]
    files: int
    private_items: int
    created_at: str = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat())

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at,
            "clean": self.clean,
            "files": self.files,
            "private_items": self.private_items,
            "findings": [asdict(f) for f in self.findings],
        }


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise AuditError(f"{path}: no such file or directory to audit")
    return out


def _shown(path: Path, data: DataDir) -> str:
    try:
        return str(path.relative_to(data.root))
    except ValueError:
        return str(path)


def audit(
    data: DataDir,
    extra_paths: Iterable[str | os.PathLike[str]] = (),
    *,
    index: PrivateIndex | None = None,
    include_public: bool = True,
) -> AuditReport:
    """Scan the public files of `data` (unless include_public=False) and `extra_paths`."""
    extras = _expand(extra_paths)
    private = index if index is not None else PrivateIndex.from_data(data)
    files = (list(data.public_files()) if include_public else []) + extras
    findings: list[Finding] = []
    for path in files:
        findings.extend(scan_file(path, private, shown=_shown(path, data)))
    return AuditReport(findings, len(files), len(private))


def run_audit(data: DataDir, extra_paths: Iterable[str | os.PathLike[str]] = ()) -> list[Finding]:
    """Every finding in the public files and `extra_paths`; empty means safe to publish.

    The worker calls this before publishing (pass the files about to be published as
    `extra_paths` when they are not under a public path yet).
    """
    return audit(data, extra_paths).findings


def audit_report_dir(data: DataDir) -> Path:
    # Private: a finding names a private item id next to the public file that leaks it.
    return data.logs / "audit"


def save_audit_report(store: Store | DataDir, report: AuditReport) -> Path:
    """Saved under logs/audit/ and, on a Hub store, committed to the private repo."""
    home, data = as_store(store), data_of(store)
    stamp = report.created_at.replace("-", "").replace(":", "").replace("+0000", "Z")
    path = audit_report_dir(data) / f"audit-{stamp}.json"
    atomic_write_json(path, report.to_json())
    home.push([path.relative_to(data.root).as_posix()], "audit report")
    return path


def latest_audit_report(data: DataDir) -> dict[str, Any] | None:
    """The newest saved audit report (for the admin panel), or None."""
    for _, report in read_json_objects(audit_report_dir(data), "audit-*.json", reverse=True):
        return report
    return None


# ---------------------------------------------------------------- refusals before publishing

AUDIT_REFUSED: Final = "SecrecyAudit"  # the error class of a run the pre-publish audit refused
# What a public request record says: no id, text or count that would single items out.
AUDIT_REFUSED_PUBLIC: Final = (
    "the run's output quotes held-out items, so nothing was published; a maintainer has the details in the private log"
)


def write_private_log(store: Store | DataDir, folder: str, record: Mapping[str, Any], *, message: str) -> Path:
    """One record as its own file under logs/<folder>/, committed through `store` (a plain
    DataDir: a local home).

    A file per record rather than an appended file: writers on other machines never touch
    the same path, so their commits never conflict and none overwrites another's lines.
    Raises StoreUnavailable when the store cannot take the commit (the file stays local).
    """
    home, data = as_store(store), data_of(store)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = data.logs / folder / f"{stamp}-{secrets.token_hex(4)}.json"
    atomic_write_json(path, dict(record))
    home.push([path.relative_to(data.root).as_posix()], message)
    return path


def read_private_log(data: DataDir, folder: str) -> list[dict[str, Any]]:
    """The records of logs/<folder>/ in this data directory (a Hub mirror pulls logs/ first), oldest first."""
    return [record for _, record in read_json_objects(data.logs / folder)]


def record_refusal(store: Store | DataDir, request_id: str, run_id: str, reason: str) -> Path:
    """The full reason of an audit refusal (it names private item ids), for maintainers only."""
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "request_id": request_id,
        "run_id": run_id,
        "reason": reason,
    }
    return write_private_log(store, "refusals", record, message=f"{request_id}: secrecy audit refusal")


def read_refusals(data: DataDir) -> list[dict[str, Any]]:
    return read_private_log(data, "refusals")


# ---------------------------------------------------------------- the maintainers' action log


def admin_log_path(data: DataDir) -> Path:
    """Appended lines kept on this machine only (failed admin-token guesses: an attacker must
    not be able to make the Space commit at will). Maintainer actions are under logs/admin/."""
    return data.logs / "admin.jsonl"


ADMIN_LOG_FOLDER: Final = "admin"


def log_admin_action(
    store: Store | DataDir,
    who: str | None,
    action: str,
    detail: Mapping[str, Any] | None = None,
    *,
    commit: bool = True,
) -> dict[str, Any]:
    """Record who did what, and when, in the private admin log; returns the record written.

    Append-only by construction: each action is its own file under logs/admin/, committed to
    the private repo on a Hub store (a Space's disk does not outlive a restart), and nothing
    in the code base rewrites or deletes one. With commit=False the record is appended to this
    machine's admin.jsonl only. `detail` must hold ids and figures, never item text (the log
    is private, but logs get copied around). StoreUnavailable when the commit fails.
    """
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "who": who or "unknown",
        "action": action,
        "detail": dict(detail or {}),
    }
    if commit:
        write_private_log(store, ADMIN_LOG_FOLDER, record, message=f"admin: {action}")
    else:
        append_jsonl(admin_log_path(data_of(store)), [record])
    return record


def read_admin_log(data: DataDir, limit: int | None = None) -> list[dict[str, Any]]:
    """The admin log, oldest first; the last `limit` records when given (a Hub mirror pulls logs/ first)."""
    records = read_jsonl(admin_log_path(data)) + read_private_log(data, ADMIN_LOG_FOLDER)
    records.sort(key=lambda r: str(r.get("at") or ""))
    return records[-limit:] if limit else records


def cli_user() -> str:
    """Who runs a maintainer CLI command, for the admin log."""
    explicit = os.environ.get("CRISIS_MAINTAINER")
    if explicit:
        return explicit
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def check_before_publish(data: DataDir, staged: Path, item_set: ItemSet) -> list[Finding]:
    """Scan a staged public artefact against every private item, including the run's own set
    when it is private but lives outside <data>/sets (a `--set PATH` on a maintainer's disk)."""
    own = () if item_set.is_public else ((i.id, (t.content for t in i.turns)) for i in item_set.items)
    return check_staged(data, [staged], item_set.name, own)


def check_staged(
    data: DataDir, staged: Sequence[Path], set_name: str, own: Iterable[tuple[str, Iterable[str]]]
) -> list[Finding]:
    """Scan staged public files against every private item plus `own`, the (id, texts) of the
    run's own private set (items or personas) except what was published on purpose."""
    published = published_items(data)
    items = private_items(data)
    public = {_turns_key(t) for t in published}
    for entry_id, texts in own:
        key = _turns_key(texts)
        if key not in public:
            items.append(PrivateItem(set_name, entry_id, key))
    if not items:
        return []
    index = PrivateIndex(items, public=published)
    return [finding for path in staged for finding in scan_file(path, index, shown=path.name)]
