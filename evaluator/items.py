"""Items and item sets (PROTOCOL.md section 3): typed records, strict loading, manifests.

A loading error names the file, the line and the field, and nothing is returned or written,
so a half-valid set can never be evaluated. Error text never quotes an item's turns: the
held-out set is secret and errors end up in logs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from evaluator.protocol.taxonomy import AGE_GROUPS, CATEGORIES, DOMAINS, ITEM_SIGNALS, ROLES, TRACKS
from evaluator.storage.layout import JsonLineError, iter_jsonl, jsonl_lines

MAX_ID_LENGTH: Final = 200
VISIBILITIES: Final = ("public", "private")
# A version folder of the sets layout (evaluator.sets cuts v0001, v0002, ...).
_VERSION_FOLDER: Final = re.compile(r"v\d+")


class ItemSetError(ValueError):
    """A set file or manifest that cannot be used; the message is one actionable line."""


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    content: str

    def as_message(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    category: str
    signal: str
    turns: tuple[Turn, ...]
    track: str = "support"
    domain: str | None = None
    locale: str | None = None
    age_group: str | None = None
    source: str | None = None
    notes: str | None = None

    @property
    def messages(self) -> list[dict[str, str]]:
        return [t.as_message() for t in self.turns]

    @property
    def last_user_message(self) -> str:
        return self.turns[-1].content

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "category": self.category,
            "signal": self.signal,
            "turns": self.messages,
        }
        for key in ("track", "domain", "locale", "age_group", "source", "notes"):
            value = getattr(self, key)
            if value is not None and not (key == "track" and value == "support"):
                out[key] = value
        return out

    def content_hash(self) -> str:
        return sha256_json(self.to_json())


def sha256_json(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    version: str
    ids: tuple[str, ...]
    content_hash: str
    visibility: str = "private"
    created_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.extra)
        out.update(
            name=self.name,
            version=self.version,
            visibility=self.visibility,
            content_hash=self.content_hash,
            ids=list(self.ids),
        )
        if self.created_at:
            out["created_at"] = self.created_at
        return out


class Visibility:
    """What "public" means for a set of the catalog, items or personas alike: its texts may be
    published (rows, examples, transcripts); a private set's never leave the private store."""

    __slots__ = ()
    visibility: str

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


@dataclass(frozen=True, slots=True)
class ItemSet(Visibility):
    """A named, versioned collection of items."""

    name: str
    version: str
    items: tuple[Item, ...]
    visibility: str = "private"

    @property
    def content_hash(self) -> str:
        return content_hash(self.items)

    def manifest(self, created_at: str | None = None) -> Manifest:
        return Manifest(
            name=self.name,
            version=self.version,
            ids=tuple(sorted(i.id for i in self.items)),
            content_hash=self.content_hash,
            visibility=self.visibility,
            created_at=created_at,
        )

    def counts(self) -> dict[str, Counter[str]]:
        """Counts per category, signal and track: safe to show for a private set."""
        return {
            "category": Counter(i.category for i in self.items),
            "signal": Counter(i.signal for i in self.items),
            "track": Counter(i.track for i in self.items),
        }


def content_hash(items: Iterable[Item]) -> str:
    return sha256_json([i.to_json() for i in sorted(items, key=lambda i: i.id)])


def _where(source: str, line: int | None) -> str:
    return f"{source} line {line}" if line is not None else source


def shown_value(value: Any) -> str:
    """A value as an error may show it: a short string quoted, anything else by its type, so no
    record text (which may be secret) reaches an error."""
    return repr(value) if isinstance(value, str) and len(value) <= 40 else type(value).__name__


class RecordFields:
    """The fields of one decoded JSONL record (an item, a persona) under validation. Errors are
    one line naming the file, the line and the field, of the record kind's error class."""

    def __init__(self, obj: Any, *, source: str, line: int | None, error: type[ItemSetError] = ItemSetError) -> None:
        self.where = _where(source, line)
        self.error = error
        if not isinstance(obj, dict):
            raise error(f"{self.where}: expected a JSON object, got {type(obj).__name__}")
        self.obj: dict[str, Any] = obj

    def fail(self, fieldname: str, problem: str) -> ItemSetError:
        return self.error(f"{self.where}: field '{fieldname}': {problem}")

    def record_id(self) -> str:
        """The record's `id`: a non-empty string of at most MAX_ID_LENGTH printable characters."""
        value = self.obj.get("id")
        if not isinstance(value, str) or not value.strip():
            raise self.fail("id", "missing or not a non-empty string")
        if len(value) > MAX_ID_LENGTH or any(ord(c) < 32 for c in value):
            raise self.fail("id", f"must be at most {MAX_ID_LENGTH} printable characters")
        return value

    def choice(self, fieldname: str, allowed: Sequence[str], required: bool) -> str | None:
        """One of `allowed`, or None when the field is absent and not `required`."""
        value = self.obj.get(fieldname)
        if value is None:
            if required:
                raise self.fail(fieldname, "missing")
            return None
        if value not in allowed:
            raise self.fail(fieldname, f"unknown value {shown_value(value)} (expected one of: {', '.join(allowed)})")
        return str(value)


def item_from_json(obj: Any, *, source: str = "<items>", line: int | None = None) -> Item:
    """Validate one decoded item; raise ItemSetError naming the line and the field."""
    fields = RecordFields(obj, source=source, line=line)
    obj, fail, choice = fields.obj, fields.fail, fields.choice
    item_id = fields.record_id()

    category = choice("category", CATEGORIES, True)
    signal = choice("signal", ITEM_SIGNALS, True)
    track = choice("track", TRACKS, False) or "support"
    domain = choice("domain", DOMAINS, False)
    age_group = choice("age_group", AGE_GROUPS, False)

    raw_turns = obj.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise fail("turns", "must be a non-empty list")
    turns: list[Turn] = []
    for n, turn in enumerate(raw_turns):
        if not isinstance(turn, dict):
            raise fail(f"turns[{n}]", "must be an object with role and content")
        role = turn.get("role")
        if role not in ROLES:
            raise fail(f"turns[{n}].role", "must be 'user' or 'assistant'")
        content = turn.get("content")
        if not isinstance(content, str) or not content.strip():
            raise fail(f"turns[{n}].content", "must be a non-empty string")
        turns.append(Turn(role, content))
    if turns[-1].role != "user":
        raise fail("turns", "the last turn must be from the user")

    optional: dict[str, str | None] = {}
    for key in ("locale", "source", "notes"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(key, "must be a string")
        optional[key] = value
    assert category is not None and signal is not None
    return Item(
        id=item_id,
        category=category,
        signal=signal,
        turns=tuple(turns),
        track=track,
        domain=domain,
        age_group=age_group,
        **optional,
    )


class _Record(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Record)
R_co = TypeVar("R_co", bound=_Record, covariant=True)


class _Parse(Protocol[R_co]):
    def __call__(self, obj: Any, *, source: str, line: int | None) -> R_co: ...


def _json_lines(lines: Iterable[str], source: str, error: type[ItemSetError]) -> Iterator[tuple[int, Any]]:
    try:
        yield from iter_jsonl(lines, on_bad="raise")
    except JsonLineError as exc:
        raise error(f"{source} line {exc.number}: invalid JSON ({exc.reason})") from None


def iter_jsonl_records(lines: Iterable[str], source: str, parse: _Parse[R], error: type[ItemSetError]) -> Iterator[R]:
    """Records (items, personas) from JSONL lines by `parse`; blank lines skipped, an id twice refused."""
    seen: dict[str, int] = {}
    for number, obj in _json_lines(lines, source, error):
        record = parse(obj, source=source, line=number)
        if record.id in seen:
            raise error(
                f"{source} line {number}: field 'id': duplicate id {record.id!r} (first on line {seen[record.id]})"
            )
        seen[record.id] = number
        yield record


def iter_jsonl_items(lines: Iterable[str], source: str) -> Iterator[Item]:
    return iter_jsonl_records(lines, source, item_from_json, ItemSetError)


def read_jsonl_text(path: Path, error: type[ItemSetError], *, max_bytes: int | None = None) -> str:
    """The text of a JSONL file of records, or one line of `error` saying why it cannot be read."""
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise error(f"{path.name}: larger than {max_bytes // (1024 * 1024)} MiB")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a JSONL file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None


def load_items(path: str | Path) -> list[Item]:
    """Load and validate a JSONL file of items; all or nothing."""
    p = Path(path)
    items = list(iter_jsonl_items(jsonl_lines(read_jsonl_text(p, ItemSetError)), p.name))
    if not items:
        raise ItemSetError(f"{p}: holds no items")
    return items


def manifest_path_for(path: Path) -> Path:
    """`x.jsonl` keeps its manifest beside it as `x.manifest.json`; a set folder as `manifest.json`."""
    if path.name in ("items.jsonl", "personas.jsonl"):  # a version folder of an item or a persona set
        return path.with_name("manifest.json")
    return path.with_name(path.name.removesuffix(".jsonl") + ".manifest.json")


def read_set_manifest(
    path: Path,
    digest: str,
    name: str,
    version: str,
    *,
    records: str = "items",
    kind: str | None = None,
    error: type[ItemSetError] = ItemSetError,
) -> tuple[str, str, str]:
    """(name, version, visibility) of a set file whose records hash to `digest`: from its manifest
    at `path` when there is one (a JSON object, of `kind` when given, cut from these very records),
    else `name` and `version`, private."""
    if not path.exists():
        return name, version, "private"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path.name}: invalid manifest JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise error(f"{path.name}: the manifest must be a JSON object")
    if kind is not None and meta.get("kind", kind) != kind:
        raise error(f"{path.name}: this manifest is for a set of kind {shown_value(meta.get('kind'))}")
    if meta.get("content_hash") not in (None, digest):
        raise error(
            f"{path.name}: the {records} changed since this version was cut "
            "(content hash differs); cut a new version instead of editing one"
        )
    visibility = str(meta.get("visibility") or "private")
    if visibility not in VISIBILITIES:
        raise error(f"{path.name}: field 'visibility' must be public or private")
    return str(meta.get("name") or name), str(meta.get("version") or version), visibility


def _default_set_name(path: Path) -> str:
    """A manifest-less file's set name: the set's folder in the sets layout
    (`<name>/<version>/items.jsonl`), else the file's own name. Never blank: a relative
    `items.jsonl` has no parent folder names, and a board named " h1a2b…" says nothing."""
    folder = path.resolve().parent
    if path.name == "items.jsonl" and _VERSION_FOLDER.fullmatch(folder.name) and folder.parent.name:
        return folder.parent.name
    return path.name.removesuffix(".jsonl").strip() or "items"


def load_set(path: str | Path, *, name: str | None = None, version: str | None = None) -> ItemSet:
    """Load a set from a JSONL file, with its manifest when one lies beside it.

    Without a manifest the set is private, named after the file, and versioned by its content
    hash, so two different files can never share a version.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "items.jsonl"
    items = load_items(p)
    digest = content_hash(items)
    set_name, set_version, visibility = read_set_manifest(
        manifest_path_for(p), digest, _default_set_name(p), f"h{digest[:12]}"
    )
    return ItemSet(name=name or set_name, version=version or set_version, items=tuple(items), visibility=visibility)
