"""The data directory layout, and the atomic file writes every home's local files use.

Layout under the data directory (default ./var), the same inside the Hub's three repos:

    requests/  one JSON per submission                  PUBLIC
    results/   result rows, one Parquet file per run     PUBLIC
    runs/<id>/ spec, replies, judgements                 PRIVATE
    sets/      item sets with versioned manifests        PRIVATE
    cache/     generation and judge cache                PRIVATE
    logs/      worker logs                               PRIVATE
    queue/     claim locks and the pending/running index PRIVATE

Writes are atomic (temporary file + rename) so a reader or a crash never sees half a file;
appends go to JSONL files whose torn last line, if a process died mid-write, is ignored.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

DEFAULT_DATA_DIR: Final = "./var"
PUBLIC_AREAS: Final = ("requests", "results", "public")
PRIVATE_AREAS: Final = ("runs", "sets", "cache", "logs", "queue")


@dataclass(frozen=True)
class DataDir:
    """Where files are read: the data directory itself, or a Hub store's local mirror. Plain
    paths: code that writes is handed the Store (`store.data` is its DataDir), and a bare
    DataDir handed to a writer is a local home (evaluator.storage.home.as_store)."""

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str] | None = None) -> DataDir:
        return cls(Path(path if path is not None else os.environ.get("CRISIS_DATA", DEFAULT_DATA_DIR)))

    @property
    def requests(self) -> Path:
        return self.root / "requests"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def public(self) -> Path:
        """Other publishable artefacts: exports, retired items, calibration summaries."""
        return self.root / "public"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def sets(self) -> Path:
        return self.root / "sets"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def queue(self) -> Path:
        """Per-request lock files and the index of claimable requests (submissions.store)."""
        return self.root / "queue"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def result_file(self, run_id: str) -> Path:
        return self.results / f"{run_id}.parquet"

    @property
    def examples(self) -> Path:
        """Example replies of public-set runs, one JSONL per run (the model page shows them)."""
        return self.public / "examples"

    @property
    def transcripts(self) -> Path:
        """Transcripts of public-persona conversation runs, one JSONL per run."""
        return self.public / "conversations"

    def public_files(self) -> Iterator[Path]:
        """Every file under a public path: what the secrecy audit and canary tests scan."""
        for area in PUBLIC_AREAS:
            base = self.root / area
            if base.exists():
                yield from (p for p in sorted(base.rglob("*")) if p.is_file())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_create_bytes(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet; FileExistsError if it does.

    The content is complete before the name appears (hard link of a synced temporary file),
    so two processes creating the same path cannot both succeed and no reader sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_create_json(path: Path, value: Any) -> None:
    atomic_create_bytes(path, _json_text(value).encode("utf-8"))


class LockBusy(BlockingIOError):
    """A non-blocking `exclusive_lock` found the lock held by someone else."""


@contextlib.contextmanager
def exclusive_lock(path: Path, *, blocking: bool = True) -> Generator[None, None, None]:
    """Hold an exclusive advisory lock on `path` (created if missing) for the block.

    flock rather than a create-and-delete lock file: the kernel drops the lock when its holder
    dies, even by SIGKILL, so a crashed process can never leave a lock that needs clearing.
    The lock file itself is left in place; deleting it would let two holders lock two inodes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise LockBusy(exc.errno, f"{path.name} is locked by another process") from None
            raise
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def json_bytes(value: Any) -> bytes:
    """A JSON file's bytes as every writer of the layout writes them (stable: sorted keys)."""
    return _json_text(value).encode("utf-8")


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, _json_text(value))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_json_objects(
    folder: Path, pattern: str = "*.json", *, reverse: bool = False
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, object) for the files of `folder` named like `pattern` that hold a JSON object,
    in name order (`reverse`: last name first; stamped names sort by time). A file that cannot
    be read or holds something else is skipped: one half-written or foreign file must not hide
    the others. No folder: nothing."""
    for path in sorted(folder.glob(pattern), reverse=reverse) if folder.is_dir() else []:
        try:
            value = read_json(path)
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            yield path, value


def append_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Append records durably in one write; callers batch to keep fsyncs rare."""
    blob = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    if not blob:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        # A torn last line (a writer killed mid-append) is closed off so it cannot swallow
        # the first record appended after it.
        if path.stat().st_size > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                blob = "\n" + blob
        fh.write(blob.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


class BadLine(str):
    """The text of a line that is not JSON, yielded in its place by `iter_jsonl(on_bad="keep")`."""


class JsonLineError(ValueError):
    """Line `number` of a JSON-lines file is not JSON (`kind` "json") or is too long ("length");
    `reason` says where the parser stopped ("Expecting value at column 3"), for callers that show it."""

    def __init__(self, number: int, kind: Literal["json", "length"], detail: str, reason: str = "") -> None:
        super().__init__(f"line {number}: {detail}")
        self.number = number
        self.kind = kind
        self.detail = detail
        self.reason = reason or detail


def _parse_failure(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, json.JSONDecodeError):  # orjson's is a subclass
        return f"{exc.msg} at column {exc.colno}"
    return "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)


def iter_jsonl(
    lines: Iterable[str | bytes],
    *,
    on_bad: Literal["skip", "raise", "keep"] = "skip",
    whole_lines: bool = False,
    max_line_bytes: int | None = None,
    loads: Callable[[Any], Any] = json.loads,
) -> Iterator[tuple[int, Any]]:
    """The one JSON-lines reader: (line number from 1, value) for every non-blank line.

    What a bad line (not JSON, or over `max_line_bytes`) does is the caller's policy: "skip"
    it (records this code appended), "raise" JsonLineError (a file someone handed in, refused
    at its first bad line), or "keep" it as a BadLine (the secrecy audit still scans its text).
    `whole_lines`: a last line without its newline is a torn append and is dropped. To bound
    memory, hand in `iter(lambda: fh.readline(max_line_bytes + 1), b"")`, not the file.
    `loads`: orjson's for large logs; json's (the default) accepts what json.dumps wrote.
    """
    for number, line in enumerate(lines, start=1):
        if max_line_bytes is not None and len(line) > max_line_bytes:
            bad = JsonLineError(number, "length", f"longer than {max_line_bytes} bytes")
        elif whole_lines and line[-1:] not in ("\n", b"\n"):
            return  # torn tail of an interrupted append
        elif not line.strip():
            continue
        else:
            try:
                value = loads(line)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, deep nesting
                bad = JsonLineError(number, "json", "not valid JSON", _parse_failure(exc))
            else:
                yield number, value
                continue
        if on_bad == "raise":
            raise bad
        if on_bad == "keep":
            yield number, BadLine(line.decode("utf-8", "replace") if isinstance(line, bytes) else line)


def jsonl_lines(text: str) -> list[str]:
    """A JSON-lines text's lines, for iter_jsonl: cut at "\n" only. str.splitlines() also cuts at
    U+2028, U+2029 and U+0085, which JSON strings may hold raw (json.dumps(ensure_ascii=False)
    writes them so), and would turn one valid record into two broken lines."""
    return text.split("\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read appended records, skipping a torn line left by a process killed mid-append."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [value for _, value in iter_jsonl(fh, whole_lines=True) if isinstance(value, dict)]
