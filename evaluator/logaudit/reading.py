"""Reading a deployer's conversation log, one conversation at a time (PROTOCOL section 10).

Two formats: JSONL, one conversation per line (`{"id", "turns": [{"role", "content"}]}`),
and CSV, one turn per row (conversation id, turn index, role, text). Field and column names
are mappable, as the importer's are, and so are role names (`bot=assistant`); `system`
turns are skipped.

Memory stays bounded whatever the file's length: one conversation is held at a time, and
the only thing kept per conversation is an 8-byte hash of its id (to refuse a repeated id,
which would make the report ambiguous). CSV rows of one conversation must be contiguous
(a log export sorted or grouped by conversation, as exports are); a conversation whose rows
come back after another conversation's is refused with its row number, so an unsorted file
is never audited as many short conversations. Within a conversation, rows may come in any
order: they are sorted by turn index.

Every limit is checked before the work it bounds, and an error names the line or row and
what is wrong, never the text (it is someone's private conversation).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import re
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from evaluator.storage import JsonLineError, iter_jsonl

FORMATS: Final[tuple[str, ...]] = ("jsonl", "csv")
ROLES: Final[tuple[str, ...]] = ("user", "assistant")
SKIPPED_ROLES: Final = frozenset({"system"})

MAX_FILE_BYTES: Final = 64 * 1024**3
MAX_LINE_BYTES: Final = 8 * 1024 * 1024
MAX_CONVERSATIONS: Final = 20_000_000
MAX_TURNS: Final = 2_000
MAX_TEXT_CHARS: Final = 100_000
MAX_ID_CHARS: Final = 200
CSV_FIELD_LIMIT: Final = MAX_TEXT_CHARS + 1


_CONTROL: Final = re.compile(r"[\x00-\x1f]")


class LogError(ValueError):
    """The log cannot be audited as given; the message is one line naming where."""


@dataclass(frozen=True, slots=True)
class LogTurn:
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    turns: tuple[LogTurn, ...]
    where: str  # "line 12" or "row 40": where it starts, for messages


@dataclass(frozen=True)
class Fields:
    """Where each field is found. JSONL: `id` and `turns` on the line, `role` and `text` in
    each turn. CSV: the `id`, `turn`, `role` and `text` columns."""

    id: str | None = None
    turns: str = "turns"
    turn: str = "turn_index"
    role: str = "role"
    text: str | None = None
    roles: Mapping[str, str] = field(default_factory=dict)  # source role -> user | assistant

    def id_for(self, fmt: str) -> str:
        return self.id or ("id" if fmt == "jsonl" else "conversation_id")

    def text_for(self, fmt: str) -> str:
        return self.text or ("content" if fmt == "jsonl" else "text")

    def to_json(self, fmt: str) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id_for(fmt), "role": self.role, "text": self.text_for(fmt)}
        out.update({"turns": self.turns} if fmt == "jsonl" else {"turn": self.turn})
        out["roles"] = dict(sorted(self.roles.items()))
        return out


def parse_role_map(pairs: list[str]) -> dict[str, str]:
    """`bot=assistant` pairs from the command line."""
    out: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.rpartition("=")
        if not sep or not source.strip():
            raise LogError(f"--map-role {pair!r}: expected SOURCE=ROLE")
        if target not in ROLES:
            raise LogError(f"--map-role {pair!r}: the role must be one of {', '.join(ROLES)}")
        out[source.strip().lower()] = target
    return out


def detect_format(path: Path, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise LogError(f"--format {given!r}: expected one of {', '.join(FORMATS)}")
        return given
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv",):
        return "csv"
    raise LogError(f"{path.name}: cannot tell the format from the name; give --format jsonl or --format csv")


def _role(value: Any, fields: Fields, where: str) -> str | None:
    if (value == "user" or value == "assistant") and not fields.roles:  # the common case, fast
        return str(value)
    if not isinstance(value, str):
        raise LogError(f"{where}: the role must be a string")
    name = value.strip().lower()
    name = fields.roles.get(name, name)
    if name in SKIPPED_ROLES:
        return None
    if name not in ROLES:
        raise LogError(f"{where}: unknown role (expected user or assistant; map others with --map-role SOURCE=ROLE)")
    return name


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise LogError(f"{where}: the text must be a string")
    if len(value) > MAX_TEXT_CHARS:
        raise LogError(f"{where}: a turn longer than {MAX_TEXT_CHARS} characters")
    return value


def _conversation_id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LogError(f"{where}: the conversation id must be a string or an integer")
    text = str(value).strip()
    if not text or len(text) > MAX_ID_CHARS or _CONTROL.search(text) is not None:
        raise LogError(f"{where}: the conversation id must be 1-{MAX_ID_CHARS} printable characters")
    return text


def _finish(conv_id: str, turns: list[LogTurn], where: str) -> Conversation:
    if not any(t.role == "user" for t in turns):
        raise LogError(f"{where}: the conversation has no user turn")
    return Conversation(conv_id, tuple(turns), where)


def _json_lines(fh: io.BufferedIOBase) -> Iterator[tuple[int, Any]]:
    lines = iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b"")
    try:
        yield from iter_jsonl(lines, on_bad="raise", max_line_bytes=MAX_LINE_BYTES, loads=orjson.loads)
    except JsonLineError as exc:
        problem = "not valid JSON" if exc.kind == "json" else f"longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB"
        raise LogError(f"line {exc.number}: {problem}") from None


def _jsonl(fh: io.BufferedIOBase, fields: Fields) -> Iterator[Conversation]:
    id_key, text_key = fields.id_for("jsonl"), fields.text_for("jsonl")
    for number, record in _json_lines(fh):
        where = f"line {number}"
        if not isinstance(record, dict):
            raise LogError(f"{where}: expected a JSON object")
        if id_key not in record:
            raise LogError(f"{where}: no {id_key!r} field (name it with --id-column)")
        conv_id = _conversation_id(record[id_key], where)
        raw_turns = record.get(fields.turns)
        if not isinstance(raw_turns, list) or not raw_turns:
            raise LogError(f"{where}: {fields.turns!r} must be a non-empty list of turns")
        if len(raw_turns) > MAX_TURNS:
            raise LogError(f"{where}: more than {MAX_TURNS} turns")
        turns: list[LogTurn] = []
        for index, raw in enumerate(raw_turns):
            if type(raw) is dict and not fields.roles:  # the common case, checked inline
                role, text = raw.get(fields.role), raw.get(text_key)
                if (role == "user" or role == "assistant") and type(text) is str and len(text) <= MAX_TEXT_CHARS:
                    turns.append(LogTurn(role, text))
                    continue
            turn_where = f"{where}, turn {index}"
            if not isinstance(raw, dict):
                raise LogError(f"{turn_where}: expected an object with {fields.role!r} and {text_key!r}")
            role = _role(raw.get(fields.role), fields, turn_where)
            text = _text(raw.get(text_key), turn_where)
            if role is not None:
                turns.append(LogTurn(role, text))
        yield _finish(conv_id, turns, where)


def _csv(fh: io.BufferedIOBase, fields: Fields) -> Iterator[Conversation]:
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")  # type: ignore[type-var]
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise LogError("the CSV file is empty") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise LogError(f"row 1: not readable CSV ({type(exc).__name__})") from None
    names = [h.strip() for h in header]
    columns: dict[str, int] = {}
    for key, name, flag in (
        ("id", fields.id_for("csv"), "--id-column"),
        ("turn", fields.turn, "--turn-column"),
        ("role", fields.role, "--role-column"),
        ("text", fields.text_for("csv"), "--text-column"),
    ):
        if name not in names:
            raise LogError(f"the CSV header has no {name!r} column (name it with {flag})")
        columns[key] = names.index(name)
    width = max(columns.values()) + 1
    current: str | None = None
    start = ""
    rows: list[tuple[int, str | None, str, str]] = []

    def flush() -> Conversation:
        assert current is not None
        rows.sort(key=lambda r: r[0])
        for (a, *_), (b, *_) in itertools.pairwise(rows):
            if a == b:
                raise LogError(f"{start}: turn index {a} appears twice in one conversation")
        return _finish(current, [LogTurn(role, body) for _, role, body, _ in rows if role is not None], start)

    number = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except (csv.Error, UnicodeDecodeError) as exc:
            raise LogError(f"row {number + 1}: not readable CSV ({type(exc).__name__}: {exc})") from None
        number += 1
        where = f"row {number}"
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < width:
            raise LogError(f"{where}: {len(row)} fields, the header has {len(names)}")
        conv_id = _conversation_id(row[columns["id"]], where)
        try:
            index = int(row[columns["turn"]].strip())
        except ValueError:
            raise LogError(f"{where}: the turn index must be an integer") from None
        role = _role(row[columns["role"]], fields, where)
        body = _text(row[columns["text"]], where)
        if conv_id != current:
            if current is not None:
                yield flush()
            current, start, rows = conv_id, where, []
        if len(rows) >= MAX_TURNS:
            raise LogError(f"{start}: more than {MAX_TURNS} turns")
        rows.append((index, role, body, where))
    if current is not None:
        yield flush()


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read through it (for the progress bar)."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self._raw = raw
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        self.read_bytes += n or 0
        return n or 0


@dataclass(frozen=True)
class Scan:
    """What a full pass over a valid log found."""

    sha256: str
    size: int
    mtime_ns: int
    conversations: int
    turns: int
    user_turns: int


def _id_hash(conv_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(conv_id.encode("utf-8"), digest_size=8).digest(), "little")


def checked_size(path: Path, limit: int, shown: str, error: type[ValueError] = LogError) -> int:
    """The size of a file someone handed in, checked before it is read: `error` (one line,
    `shown` is the limit in words) if it cannot be read or is larger than `limit` bytes."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise error(f"{path.name}: cannot read ({exc.strerror or exc})") from None
    if size > limit:
        raise error(f"{path.name}: larger than {shown}")
    return size


def iter_conversations(
    path: Path, fmt: str, fields: Fields, *, on_bytes: Callable[[int], None] | None = None
) -> Iterator[Conversation]:
    """Every conversation of the log, in file order. LogError at the first problem."""
    checked_size(path, MAX_FILE_BYTES, f"{MAX_FILE_BYTES // 1024**3} GiB")
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with open(path, "rb") as raw:
        counting = _Counting(raw)
        buffered = io.BufferedReader(counting, buffer_size=1024 * 1024)
        reader = _jsonl(buffered, fields) if fmt == "jsonl" else _csv(buffered, fields)
        count, reported = 0, 0
        try:
            for conversation in reader:
                count += 1
                if count > MAX_CONVERSATIONS:
                    raise LogError(f"{conversation.where}: more than {MAX_CONVERSATIONS} conversations")
                if on_bytes is not None and counting.read_bytes != reported:
                    on_bytes(counting.read_bytes - reported)
                    reported = counting.read_bytes
                yield conversation
        except UnicodeDecodeError:
            raise LogError(f"{path.name}: not UTF-8 text") from None


def scan(path: Path, fmt: str, fields: Fields, *, on_bytes: Callable[[int], None] | None = None) -> Scan:
    """Read the whole log once, checking everything, before anything is written."""
    stat = path.stat() if path.exists() else None
    if stat is None or not path.is_file():
        raise LogError(f"{path.name}: no such file")
    ids = array("Q")
    turns = user_turns = 0
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    for conversation in iter_conversations(path, fmt, fields, on_bytes=on_bytes):
        ids.append(_id_hash(conversation.id))
        turns += len(conversation.turns)
        user_turns += sum(1 for t in conversation.turns if t.role == "user")
    if not ids:
        raise LogError(f"{path.name}: no conversation in the file")
    _refuse_repeated_ids(path, fmt, fields, ids)
    after = path.stat()
    if after.st_size != stat.st_size or after.st_mtime_ns != stat.st_mtime_ns:
        raise LogError(f"{path.name}: the file changed while it was read")
    return Scan(digest.hexdigest(), stat.st_size, stat.st_mtime_ns, len(ids), turns, user_turns)


def _refuse_repeated_ids(path: Path, fmt: str, fields: Fields, ids: array[int]) -> None:
    import numpy as np

    values = np.frombuffer(ids, dtype=np.uint64)
    ordered = np.sort(values)
    repeats = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeats.size == 0:
        return
    wanted = {int(v) for v in repeats[:1000]}
    seen: dict[int, str] = {}
    for conversation in iter_conversations(path, fmt, fields):
        key = _id_hash(conversation.id)
        if key in wanted:
            if key in seen:
                hint = " (CSV rows of one conversation must be contiguous)" if fmt == "csv" else ""
                raise LogError(f"{conversation.where}: the conversation id repeats the one at {seen[key]}{hint}")
            seen[key] = conversation.where
    raise LogError(f"{path.name}: {repeats.size} conversation ids repeat")


def unchanged(path: Path, seen: Scan) -> bool:
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return stat.st_size == seen.size and stat.st_mtime_ns == seen.mtime_ns
