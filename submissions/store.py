"""Where request records live, and the one primitive every queue operation is built on.

`RequestStore.update(id, change)` applies a read-modify-write to one record atomically:
no other update of that record interleaves, across threads and processes. The queue's
claim, heartbeat, finish, fail and reclaim are all such updates, so a store only has to get
this right once:

- locally (`LocalRequestStore`), an flock per request held around read, change, write;
- on the Hub (`HubRequestStore`), a commit made against the parent commit the record was
  read at, which the Hub refuses (412) if the branch moved; the store re-reads and retries
  a bounded number of times, then raises `Busy` and a claim tries the next request.

The local store also keeps a small index of claimable and running ids in the private
`queue/` area so that a claim reads a directory listing rather than every record.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Protocol

from pydantic import ValidationError

from evaluator.storage import (
    CommitConflict,
    DataDir,
    LockBusy,
    Store,
    StoreUnavailable,
    as_store,
    atomic_create_json,
    atomic_write_json,
    exclusive_lock,
    json_bytes,
    read_json,
)
from evaluator.storage.hub import HubStore
from submissions.errors import SubmissionError, UnknownRequest
from submissions.records import RequestRecord, Status, is_request_id

Change = Callable[[RequestRecord], "RequestRecord | None"]
"""Given the current record, the record to write, or None to leave it as it is."""
CreateCheck = Callable[[list[RequestRecord]], None]
"""Given every record as the create sees them, raise (SubmissionRejected) to refuse the new one."""

_PRIORITY_OFFSET: Final = 5000  # records bound priority to +-MAX_PRIORITY < this
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Busy(Exception):
    """Another worker is changing this record right now (`update(..., wait=False)`)."""


class RequestExists(SubmissionError):
    """A record with this id is already stored."""


class RequestStore(Protocol):
    def create(self, record: RequestRecord, *, check: CreateCheck | None = None) -> None:
        """Store a new record; RequestExists if the id is taken.

        `check` (duplicates, rate limits) runs against the very state the record is added
        to, and again on every retry of a create that lost a race.
        """
        ...

    def get(self, request_id: str) -> RequestRecord:
        """The record, or UnknownRequest."""
        ...

    def all(self) -> list[RequestRecord]: ...

    def unreadable(self) -> list[str]:
        """Record files the last `all()` could not read, each as "requests/NAME: why" (no content)."""
        ...

    def update(self, request_id: str, change: Change, *, wait: bool = True) -> RequestRecord | None:
        """Apply `change` atomically; the written record, or None if `change` wrote nothing.

        With wait=False, raise Busy instead of waiting for (or retrying against) a concurrent update.
        """
        ...

    def queued_ids(self) -> Iterable[str]:
        """Ids of PENDING requests in claim order. May hold a stale id; callers re-check under update."""
        ...

    def running_ids(self) -> list[str]:
        """Ids of RUNNING requests. May hold a stale id; callers re-check under update."""
        ...

    def intake_lock(self) -> AbstractContextManager[None]:
        """Serialises new submissions, so duplicate and rate-limit checks cannot race."""
        ...


def describe_unreadable(name: str, exc: BaseException) -> str:
    """Why a record file cannot be read, naming fields but never quoting the file's content."""
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(part) for part in err["loc"]) or "record" for err in exc.errors()})
        why = "invalid " + ", ".join(fields[:5])
    elif isinstance(exc, json.JSONDecodeError):
        why = f"not valid JSON (truncated or corrupt at line {exc.lineno}, column {exc.colno})"
    elif isinstance(exc, UnicodeDecodeError):
        why = "not UTF-8 text"
    elif isinstance(exc, OSError):
        why = f"cannot be read ({exc.strerror or type(exc).__name__})"
    else:
        why = "not a request record"
    return f"requests/{name}: {why}"


def _load_record(path: Path) -> RequestRecord:
    """The record in `path`; raises what `describe_unreadable` explains (including a name that is not its id)."""
    record = RequestRecord.from_json(json.loads(path.read_bytes()))
    if f"{record.id}.json" != path.name:
        raise ValueError("file name does not match the record id")
    return record


def _queue_key(record: RequestRecord) -> str:
    # A file name that sorts in claim order: priority (inverted, so higher first), then age.
    micros = (record.submitted_at - _EPOCH) // timedelta(microseconds=1)
    return f"{_PRIORITY_OFFSET - record.priority:05d}.{micros:020d}.{record.id}"


def _id_from_key(name: str) -> str | None:
    parts = name.split(".", 2)
    return parts[2] if len(parts) == 3 and is_request_id(parts[2]) else None


class LocalRequestStore:
    """Records as JSON files in `<data>/requests/`; locks and index under `<data>/queue/`.

    Index invariants, kept under the record's lock: a marker is created before a record
    enters its state and removed after it leaves it, so a crash can leave a stale marker
    (ignored and removed by the next reader that locks the record) but never a PENDING or
    RUNNING record without one.
    """

    def __init__(self, data: DataDir, *, listing_ttl_s: float = 1.0) -> None:
        self.data = data
        self.listing_ttl_s = listing_ttl_s
        self._pending_dir = data.queue / "pending"
        self._running_dir = data.queue / "running"
        self._locks_dir = data.queue / "locks"
        self._listing: list[str] = []
        self._listed_at = -math.inf
        self._cursor = 0
        self._unreadable: list[str] = []

    def path(self, request_id: str) -> Path:
        if not is_request_id(request_id):
            raise UnknownRequest("not a request id (expected letters, digits, '-' and '_')")
        return self.data.requests / f"{request_id}.json"

    def _lock(self, request_id: str, *, wait: bool) -> AbstractContextManager[None]:
        return exclusive_lock(self._locks_dir / f"{request_id}.lock", blocking=wait)

    def _read(self, path: Path, request_id: str) -> RequestRecord:
        try:
            return RequestRecord.from_json(read_json(path))
        except FileNotFoundError:
            raise UnknownRequest(f"no request {request_id}") from None
        except (ValueError, ValidationError):
            raise UnknownRequest(f"request {request_id} is unreadable (corrupt JSON)") from None

    def create(self, record: RequestRecord, *, check: CreateCheck | None = None) -> None:
        # Callers that check hold intake_lock(), which every other create checks under too.
        if check is not None:
            check(self.all())
        path = self.path(record.id)
        with self._lock(record.id, wait=True):
            if path.exists():
                raise RequestExists(f"request {record.id} already exists")
            self._enter_index(record)
            try:
                atomic_create_json(path, record.to_json())
            except FileExistsError:
                raise RequestExists(f"request {record.id} already exists") from None

    def get(self, request_id: str) -> RequestRecord:
        return self._read(self.path(request_id), request_id)

    def all(self) -> list[RequestRecord]:
        if not self.data.requests.is_dir():
            return []
        out, bad = [], []
        for entry in sorted(os.scandir(self.data.requests), key=lambda e: e.name):
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            # A hand-edited or truncated file must not hide every other request from the listing,
            # nor vanish from it: it is reported by name.
            try:
                out.append(_load_record(Path(entry.path)))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, ValidationError) as exc:
                bad.append(describe_unreadable(entry.name, exc))
        self._unreadable = bad
        return out

    def unreadable(self) -> list[str]:
        return list(self._unreadable)

    def update(self, request_id: str, change: Change, *, wait: bool = True) -> RequestRecord | None:
        path = self.path(request_id)
        if not path.exists():  # records are never deleted; an unknown id must not leave a lock file behind
            raise UnknownRequest(f"no request {request_id}")
        try:
            with self._lock(request_id, wait=wait):
                old = self._read(path, request_id)
                new = change(old)
                if new is None:
                    self._leave_index(old, old)
                    return None
                if new.id != old.id:
                    raise ValueError("a change may not rename a request")
                self._enter_index(new)
                atomic_write_json(path, new.to_json())
                self._leave_index(old, new)
                return new
        except LockBusy:
            raise Busy(request_id) from None

    def queued_ids(self) -> Iterator[str]:
        """Candidates in claim order: first from this process's recent listing, then a fresh one.

        Listing a directory of 10,000 markers costs milliseconds, so a worker reuses its
        listing for `listing_ttl_s`, skipping markers that have gone since (claimed by
        someone). A request queued after that listing is only found by the fresh listing at
        the end, so it can wait up to `listing_ttl_s` behind older-listed ones, but it is
        never missed: the iterator ends only after a fresh listing is exhausted.
        """
        tried: set[str] = set()
        if time.monotonic() - self._listed_at <= self.listing_ttl_s:
            listing = self._listing
            while self._cursor < len(listing) and not (self._pending_dir / listing[self._cursor]).exists():
                self._cursor += 1  # gone from the front: claimed since the listing
            for name in listing[self._cursor :]:
                if (self._pending_dir / name).exists():
                    tried.add(name)
                    request_id = _id_from_key(name)
                    if request_id:
                        yield request_id
        try:
            names = os.listdir(self._pending_dir)  # markers are never dot-files; no filtering needed
        except FileNotFoundError:
            names = []
        self._listing, self._listed_at, self._cursor = sorted(names), time.monotonic(), 0
        for name in self._listing:
            if name not in tried:
                request_id = _id_from_key(name)
                if request_id:
                    yield request_id

    def running_ids(self) -> list[str]:
        return sorted(n for n in _names(self._running_dir) if is_request_id(n))

    @contextlib.contextmanager
    def intake_lock(self) -> Iterator[None]:
        with exclusive_lock(self._locks_dir / "intake.lock"):
            yield

    def repair_index(self) -> int:
        """Rebuild the index from the records (after a manual edit); how many markers changed."""
        changed = 0
        wanted_pending = {_queue_key(r) for r in self.all() if r.status == Status.PENDING}
        wanted_running = {r.id for r in self.all() if r.status == Status.RUNNING}
        for folder, wanted in ((self._pending_dir, wanted_pending), (self._running_dir, wanted_running)):
            present = set(_names(folder))
            for name in wanted - present:
                _touch(folder / name)
                changed += 1
            for name in present - wanted:
                _remove(folder / name)
                changed += 1
        return changed

    def _enter_index(self, record: RequestRecord) -> None:
        if record.status == Status.PENDING:
            _touch(self._pending_dir / _queue_key(record))
        elif record.status == Status.RUNNING:
            _touch(self._running_dir / record.id)

    def _leave_index(self, old: RequestRecord, new: RequestRecord) -> None:
        if new.status != Status.PENDING or _queue_key(old) != _queue_key(new):
            _remove(self._pending_dir / _queue_key(old))
        if new.status != Status.RUNNING:
            _remove(self._running_dir / old.id)


def _names(folder: Path) -> list[str]:
    try:
        return [n for n in os.listdir(folder) if not n.startswith(".")]
    except FileNotFoundError:
        return []


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# ---------------------------------------------------------------------------------- Hub

MAX_CONFLICT_RETRIES: Final = 25  # with the backoff below, up to ~20 s of a busy branch
CLAIM_CONFLICT_RETRIES: Final = 3  # a claim moves on to the next request sooner
CONFLICT_BACKOFF_S: Final = (0.02, 1.0)  # first and largest random wait after a 412


class HubRequestStore:
    """Records as requests/<id>.json in ORG/PREFIX-requests, read from the store's mirror.

    Every write is a commit whose parent is the commit the record was read at. The Hub
    refuses it (412) if anyone committed since; then the mirror is refreshed (only changed
    files are fetched), the change is applied again to the record as it now is, and the
    commit retried, a bounded number of times. A change that raises on a record read from
    a mirror that may be stale is retried on a fresh read before the error counts.
    """

    ROLE: Final = "requests"

    def __init__(self, hub: HubStore, *, max_age_s: float = 2.0) -> None:
        self.hub = hub
        self.data = hub.data
        self.max_age_s = max_age_s
        self._parsed: dict[str, tuple[tuple[int, int], RequestRecord | str]] = {}
        self._unreadable: list[str] = []
        self._fresh_at = -math.inf
        self._intake = threading.Lock()

    def _path(self, request_id: str) -> str:
        if not is_request_id(request_id):
            raise UnknownRequest("not a request id (expected letters, digits, '-' and '_')")
        return f"requests/{request_id}.json"

    def _mirror_record(self, request_id: str) -> RequestRecord | None:
        raw = self.hub.read_file(self._path(request_id))
        if raw is None:
            return None
        try:
            return RequestRecord.from_json(json.loads(raw))
        except (ValueError, ValidationError):
            raise UnknownRequest(f"request {request_id} is unreadable (corrupt JSON)") from None

    def _refresh(self) -> str | None:
        head = self.hub.refresh_role(self.ROLE)
        self._fresh_at = time.monotonic()
        return head

    def _maybe_refresh(self) -> None:
        # Workers look for work on a fresh mirror; a reader (all(), the page) never waits.
        if time.monotonic() - self._fresh_at > self.max_age_s:
            self._refresh()

    def create(self, record: RequestRecord, *, check: CreateCheck | None = None) -> None:
        path = self._path(record.id)
        content = json_bytes(record.to_json())
        for attempt in range(MAX_CONFLICT_RETRIES):
            with self.hub.repo_lock(self.ROLE):
                # The mirror at `parent` is what the checks see: if the branch moved since
                # (another machine's create), the commit is refused and everything is checked
                # again on the fresh state, not only this record's own path.
                parent = self.hub.mirror_sha(self.ROLE)
                if self.hub.read_file(path) is not None:
                    raise RequestExists(f"request {record.id} already exists")
                if check is not None:
                    check(self.all())
                try:
                    self.hub.commit_files({path: content}, message=f"New request {record.id}", parent=parent)
                    return
                except CommitConflict:
                    pass
            self._refresh_after_conflict(attempt)
        raise Busy(record.id)

    def get(self, request_id: str) -> RequestRecord:
        record = self._mirror_record(request_id)
        if record is None:
            raise UnknownRequest(f"no request {request_id}")
        return record

    def all(self) -> list[RequestRecord]:
        base = self.data.requests
        try:
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        out, seen, bad = [], set(), []
        for entry in entries:
            name = entry.name
            if not name.endswith(".json") or name.startswith("."):
                continue
            seen.add(name)
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            key = (st.st_mtime_ns, st.st_size)
            cached = self._parsed.get(name)
            if cached is None or cached[0] != key:
                value: RequestRecord | str
                try:
                    value = _load_record(Path(entry.path))
                except FileNotFoundError:
                    continue
                except (OSError, ValueError, ValidationError) as exc:
                    value = describe_unreadable(name, exc)  # reported, and never hides the other requests
                cached = self._parsed[name] = (key, value)
            if isinstance(cached[1], RequestRecord):
                out.append(cached[1])
            else:
                bad.append(cached[1])
        for gone in set(self._parsed) - seen:
            del self._parsed[gone]
        self._unreadable = bad
        return out

    def unreadable(self) -> list[str]:
        return list(self._unreadable)

    def update(self, request_id: str, change: Change, *, wait: bool = True) -> RequestRecord | None:
        path = self._path(request_id)
        fresh = False  # whether the mirror was refreshed during this call
        for attempt in range(MAX_CONFLICT_RETRIES if wait else CLAIM_CONFLICT_RETRIES):
            with self.hub.repo_lock(self.ROLE):
                parent = self.hub.mirror_sha(self.ROLE)
                old = self._mirror_record(request_id)
                try:
                    if old is None:
                        raise UnknownRequest(f"no request {request_id}")
                    new = change(old)
                except SubmissionError:
                    if fresh:
                        raise
                    new, conflict = None, True  # judged on a possibly stale copy: look again
                else:
                    if new is None:
                        return None
                    if new.id != old.id:
                        raise ValueError("a change may not rename a request")
                    try:
                        self.hub.commit_files(
                            {path: json_bytes(new.to_json())}, message=f"{request_id}: {new.status}", parent=parent
                        )
                        return new
                    except CommitConflict:
                        conflict = True
            if conflict:
                self._refresh_after_conflict(attempt)
                fresh = True
        raise Busy(request_id)

    def _refresh_after_conflict(self, attempt: int = 0) -> None:
        # Random and growing, so writers that collided do not collide again in lockstep.
        first, most = CONFLICT_BACKOFF_S
        time.sleep(random.uniform(0.0, min(most, first * 2**attempt)))
        self._refresh()

    def _pending(self) -> list[RequestRecord]:
        return sorted((r for r in self.all() if r.status == Status.PENDING), key=lambda r: r.order_key)

    def queued_ids(self) -> Iterator[str]:
        self._maybe_refresh()
        for record in self._pending():
            yield record.id

    def running_ids(self) -> list[str]:
        self._maybe_refresh()
        return sorted(r.id for r in self.all() if r.status == Status.RUNNING)

    @contextlib.contextmanager
    def intake_lock(self) -> Iterator[None]:
        # Within this process a lock; across processes, create() commits against the commit
        # the duplicate check read, so a concurrent create makes it re-check (see create).
        with self._intake:
            with contextlib.suppress(StoreUnavailable):
                self._refresh()
            yield


def request_store_for(store: Store | DataDir) -> RequestStore:
    """The request store of a store: the Hub's requests repo, or the files of a local home
    (a plain DataDir is one; a Hub mirror handed as a bare DataDir is refused)."""
    home = as_store(store)
    if isinstance(home, HubStore):
        return HubRequestStore(home)
    return LocalRequestStore(home.data)
