"""Loading the public result rows and request records, cached by file modification times.

The Space answers every filter change from memory: a load re-reads only the files whose
(mtime, size) changed, and skips even the directory scan while the directory itself is
unchanged and was scanned less than `recheck_seconds` ago. Writers replace files atomically
(temporary file + rename), which always touches the directory, so a finished run shows up
on the next load; the periodic full scan also catches files rewritten in place.

A file that cannot be read never takes the page down: it is skipped and reported in
`problems`, which the Space shows and the CLI turns into an error.

Models the maintainers hid (<data>/public/hidden.json, see leaderboard.hidden) are left out
of every snapshot, so boards, the API and the downloads all honour it in one place.
"""

from __future__ import annotations

import json
import math
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evaluator.results import RESULT_SCHEMA
from evaluator.storage import DataDir, atomic_write_bytes
from leaderboard.hidden import HiddenModel, hidden_path, read_hidden

T = TypeVar("T")
FileKey = tuple[int, int]  # (mtime_ns, size)

_TARGET_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in RESULT_SCHEMA}


class LoadError(RuntimeError):
    """Some files could not be read; the message names them."""


def _scan(directory: Path, suffix: str) -> dict[str, FileKey]:
    """File name -> (mtime_ns, size) of the directory's files ending in `suffix`.

    Names, not Path objects: with ten thousand result files, building paths costs more
    than the stat calls themselves.
    """
    found: dict[str, FileKey] = {}
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return found
    with entries:
        for entry in entries:
            name = entry.name
            # Atomic writers leave ".name.XXXX.tmp" while writing; never read those.
            if name[0] == "." or not name.endswith(suffix):
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue  # removed between the listing and the stat
            if stat.S_ISREG(st.st_mode):
                found[name] = (st.st_mtime_ns, st.st_size)
    return found


def _dir_key(directory: Path) -> FileKey | None:
    try:
        st = directory.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass
class _Snapshot(Generic[T]):
    files: dict[str, FileKey]
    value: T
    version: int
    problems: tuple[str, ...]


class _Rechecked(Generic[T]):
    """The cheap path both caches share: a directory stat, then the cached snapshot unless
    the directory changed, a recheck is due, or the caller forces a rescan."""

    directory: Path
    recheck_seconds: float
    _snapshot: _Snapshot[T] | None
    _dir_key: FileKey | None
    _scanned_at: float
    _lock: threading.Lock

    def get(self, *, force: bool = False) -> _Snapshot[T]:
        now = time.monotonic()
        dir_key = _dir_key(self.directory)
        snap = self._snapshot
        if (
            snap is not None
            and not force
            and dir_key == self._dir_key
            and now - self._scanned_at < self.recheck_seconds
        ):
            return snap
        with self._lock:
            # Checked again: callers that queued here behind a refresh must not each scan again.
            if not force:
                now, dir_key = time.monotonic(), _dir_key(self.directory)
                snap = self._snapshot
                if snap is not None and dir_key == self._dir_key and now - self._scanned_at < self.recheck_seconds:
                    return snap
            return self._refresh(dir_key, now)

    def _refresh(self, dir_key: FileKey | None, now: float) -> _Snapshot[T]:
        raise NotImplementedError


@dataclass
class _DirectoryCache(_Rechecked[T]):
    """Per-file parse cache plus one combined value, rebuilt only when a file changed."""

    directory: Path
    suffix: str
    parse: Callable[[Path], Any]
    combine: Callable[[list[Any]], T]
    recheck_seconds: float
    _parsed: dict[str, tuple[FileKey, Any]] = field(default_factory=dict)
    _snapshot: _Snapshot[T] | None = None
    _dir_key: FileKey | None = None
    _scanned_at: float = -math.inf
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int = 0

    def _refresh(self, dir_key: FileKey | None, now: float) -> _Snapshot[T]:
        files = _scan(self.directory, self.suffix)
        self._dir_key, self._scanned_at = dir_key, now
        if self._snapshot is not None and files == self._snapshot.files:
            return self._snapshot
        stale = [n for n, key in files.items() if self._parsed.get(n, (None, None))[0] != key]
        problems: list[str] = []
        for name in stale:
            path = self.directory / name
            try:
                self._parsed[name] = (files[name], self.parse(path))
            except Exception as exc:  # any unreadable file is reported, never fatal
                self._parsed.pop(name, None)
                problems.append(_problem(path, self.directory, exc))
        for gone in set(self._parsed) - set(files):
            del self._parsed[gone]
        ordered = [self._parsed[p][1] for p in sorted(self._parsed)]
        self._version += 1
        self._snapshot = _Snapshot(files, self.combine(ordered), self._version, tuple(sorted(problems)))
        return self._snapshot


# ---------------------------------------------------------------------------------------
# Result rows

SOURCE: Final = "_source_file"  # which results file a row came from (dropped before use)
_SNAPSHOT_FORMAT: Final = b"1"
_KEYS_META: Final = b"crisis_leaderboard_file_keys"
_FORMAT_META: Final = b"crisis_leaderboard_snapshot_format"


def _normalise_table(table: pa.Table) -> pa.Table:
    """Cast known columns to the contract's types so files from older writers combine.

    A column whose values cannot be cast (a writer bug) becomes null rather than poisoning
    every other file's rows.
    """
    columns, names = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        target = _TARGET_TYPES.get(name)
        if target is not None and column.type != target:
            try:
                column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                column = pa.nulls(len(column), target)
        columns.append(column)
        names.append(name)
    return pa.Table.from_arrays(columns, names=names)


def _read_results(path: Path) -> pa.Table:
    # One tiny file at a time: pyarrow's own thread pool costs more than it saves here.
    table = _normalise_table(pq.read_table(path, use_threads=False, pre_buffer=False))
    return table.append_column(SOURCE, pa.array([path.name] * table.num_rows, pa.string()))


def _combine(tables: list[pa.Table]) -> pa.Table:
    # The empty table first gives every contract column, in contract order, even when no
    # file has it yet; columns only some writers add follow.
    empty = RESULT_SCHEMA.empty_table().append_column(SOURCE, pa.array([], pa.string()))
    return pa.concat_tables([empty, *tables], promote_options="permissive")


def _to_frame(table: pa.Table) -> pd.DataFrame:
    return table.drop_columns([SOURCE]).to_pandas()


def empty_results() -> pd.DataFrame:
    """A frame with every result column and no rows, typed as loaded files are."""
    return _to_frame(_combine([]))


def _problem(path: Path, directory: Path, exc: BaseException) -> str:
    # The server's own paths are no business of the public page.
    detail = str(exc).replace(str(path), path.name).replace(str(directory), "")
    return f"{path.name}: {type(exc).__name__}: {detail}".splitlines()[0]


class _ResultFiles(_Rechecked[pd.DataFrame]):
    """results/*.parquet as one frame, re-reading only files whose (mtime, size) changed.

    Rows read so far are kept as one consolidated Arrow table (the base) plus the files read
    since (fresh). Every `consolidate_after` fresh files the two are merged, and the base is
    saved under the private cache directory, so a restarted Space reads only what changed
    while it was down instead of every file again.
    """

    def __init__(self, directory: Path, snapshot_path: Path | None, recheck_seconds: float) -> None:
        self.directory = directory
        self.snapshot_path = snapshot_path
        self.recheck_seconds = recheck_seconds
        self.consolidate_after = 32
        self._base: pa.Table | None = None
        self._base_keys: dict[str, FileKey] = {}
        self._fresh: dict[str, tuple[FileKey, pa.Table]] = {}
        self._broken: dict[str, tuple[FileKey, str]] = {}
        self._snapshot: _Snapshot[pd.DataFrame] | None = None
        self._dir_key: FileKey | None = None
        self._scanned_at = -math.inf
        self._version = 0
        self._restored = False
        self._lock = threading.Lock()

    def _refresh(self, dir_key: FileKey | None, now: float) -> _Snapshot[pd.DataFrame]:
        found = _scan(self.directory, ".parquet")
        self._dir_key, self._scanned_at = dir_key, now
        if self._snapshot is not None and found == self._snapshot.files:
            return self._snapshot
        if not self._restored:
            self._restored = True
            self._restore()
        valid_base = {n for n, k in self._base_keys.items() if found.get(n) == k}
        self._fresh = {n: v for n, v in self._fresh.items() if found.get(n) == v[0]}
        self._broken = {n: v for n, v in self._broken.items() if found.get(n) == v[0]}
        for name in sorted(found):
            if name in valid_base or name in self._fresh or name in self._broken:
                continue
            path = self.directory / name
            try:
                self._fresh[name] = (found[name], _read_results(path))
            except Exception as exc:  # any unreadable file is reported, never fatal
                self._broken[name] = (found[name], _problem(path, self.directory, exc))
        if self._base is not None and len(valid_base) < len(self._base_keys):
            keep = pc.is_in(self._base[SOURCE], value_set=pa.array(sorted(valid_base), pa.string()))
            self._base = self._base.filter(keep)
            self._base_keys = {n: self._base_keys[n] for n in valid_base}
        parts = [self._base] if self._base is not None else []
        parts += [self._fresh[n][1] for n in sorted(self._fresh)]
        combined = _combine(parts)
        if len(self._fresh) >= self.consolidate_after:
            self._base = combined.combine_chunks()
            self._base_keys |= {n: v[0] for n, v in self._fresh.items()}
            self._fresh = {}
            self._persist()
        self._version += 1
        problems = tuple(sorted(v[1] for v in self._broken.values()))
        self._snapshot = _Snapshot(found, _to_frame(combined), self._version, problems)
        return self._snapshot

    def _restore(self) -> None:
        path = self.snapshot_path
        if path is None or not path.exists():
            return
        try:
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            if meta.get(_FORMAT_META) != _SNAPSHOT_FORMAT:
                return
            keys = {n: (int(k[0]), int(k[1])) for n, k in json.loads(meta[_KEYS_META]).items()}
        except Exception:  # a damaged cache only means a slower start
            return
        self._base = table.replace_schema_metadata(None)
        self._base_keys = keys

    def _persist(self) -> None:
        if self.snapshot_path is None or self._base is None:
            return
        meta = {_FORMAT_META: _SNAPSHOT_FORMAT, _KEYS_META: json.dumps(self._base_keys).encode()}
        try:
            sink = pa.BufferOutputStream()
            pq.write_table(self._base.replace_schema_metadata(meta), sink)
            atomic_write_bytes(self.snapshot_path, sink.getvalue().to_pybytes())
        except OSError:
            pass  # a read-only data directory still serves the page, from memory


# ---------------------------------------------------------------------------------------
# Request records (model metadata: parameters, license, type)

REQUEST_FIELDS = ("model", "revision", "model_type", "params", "license", "status", "reason")


def _read_request(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _combine_requests(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return records


@dataclass(frozen=True)
class ModelMeta:
    params_b: float | None  # billions of parameters
    license: str | None
    model_type: str | None


def params_in_billions(value: Any) -> float | None:
    """Requests may record parameters as a raw count or already in billions.

    No model worth ranking has fewer than 100,000 parameters, and none has 100,000 billion,
    so the magnitude tells the unit apart.
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    return number / 1e9 if number >= 1e5 else number


def _timestamp(record: dict[str, Any]) -> str:
    for key in ("updated_at", "submitted_at", "created_at"):
        value = record.get(key)
        if isinstance(value, str):
            return value
    return ""


def model_metadata(records: list[dict[str, Any]]) -> dict[str, ModelMeta]:
    """Per model name, the newest non-empty parameters, license and type over its requests."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        model = record.get("model")
        if isinstance(model, str) and model:
            by_model.setdefault(model, []).append(record)
    out: dict[str, ModelMeta] = {}
    for model, recs in by_model.items():
        recs.sort(key=_timestamp, reverse=True)
        params = next((p for r in recs if (p := params_in_billions(r.get("params"))) is not None), None)
        license_ = next((str(r["license"]) for r in recs if isinstance(r.get("license"), str) and r["license"]), None)
        mtype = next((str(r["model_type"]) for r in recs if isinstance(r.get("model_type"), str)), None)
        out[model] = ModelMeta(params, license_, mtype)
    return out


# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSnapshot:
    version: tuple[int, int]
    results: pd.DataFrame  # shared: never modify in place; hidden models already left out
    metadata: dict[str, ModelMeta]
    requests: list[dict[str, Any]]
    problems: tuple[str, ...]
    hidden: dict[str, HiddenModel] = field(default_factory=dict)


class _HiddenFilter:
    """The result rows without hidden models, rebuilt only when the rows or hidden.json change."""

    def __init__(self, data: DataDir) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._key: tuple[int, FileKey | None] | None = None
        self._value: tuple[int, pd.DataFrame, dict[str, HiddenModel], tuple[str, ...]] | None = None
        self._version = 0

    def _file_key(self) -> FileKey | None:
        try:
            st = hidden_path(self.data).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (st.st_mtime_ns, st.st_size)

    def apply(
        self, results: _Snapshot[pd.DataFrame]
    ) -> tuple[int, pd.DataFrame, dict[str, HiddenModel], tuple[str, ...]]:
        key = (results.version, self._file_key())
        with self._lock:
            if self._value is not None and key == self._key:
                return self._value
            problems: tuple[str, ...] = ()
            try:
                hidden = read_hidden(self.data) if key[1] is not None else {}
            except (OSError, ValueError) as exc:
                # Unreadable: hide nothing rather than take the page down, and say so.
                hidden = {}
                problems = (f"{hidden_path(self.data).name}: {type(exc).__name__}",)
            frame = results.value
            if hidden and len(frame):
                frame = frame[~frame["model"].isin(list(hidden))].reset_index(drop=True)
            self._version += 1
            self._key = key
            self._value = (self._version, frame, hidden, problems)
            return self._value


class ResultStore:
    """The result rows and request records of one data directory, cached.

    Thread-safe: the Space calls it from many request threads at once.
    """

    def __init__(
        self, data: DataDir | str | os.PathLike[str], *, recheck_seconds: float = 30.0, persist: bool = True
    ) -> None:
        self.data = data if isinstance(data, DataDir) else DataDir.at(data)
        snapshot = self.data.cache / "leaderboard" / "results-snapshot.parquet" if persist else None
        self._results = _ResultFiles(self.data.results, snapshot, recheck_seconds)
        self._requests: _DirectoryCache[list[dict[str, Any]]] = _DirectoryCache(
            self.data.requests, ".json", _read_request, _combine_requests, recheck_seconds
        )
        self._meta_lock = threading.Lock()
        self._meta: tuple[int, dict[str, ModelMeta]] | None = None
        self._hidden = _HiddenFilter(self.data)

    def snapshot(self, *, force: bool = False) -> StoreSnapshot:
        """Rows, metadata and a version taken together, so they always belong to each other."""
        results = self._results.get(force=force)
        requests = self._requests.get(force=force)
        version, rows, hidden, hidden_problems = self._hidden.apply(results)
        with self._meta_lock:
            if self._meta is None or self._meta[0] != requests.version:
                self._meta = (requests.version, model_metadata(requests.value))
            meta = self._meta[1]
        return StoreSnapshot(
            version=(version, requests.version),
            results=rows,
            metadata=meta,
            requests=requests.value,
            problems=results.problems + requests.problems + hidden_problems,
            hidden=hidden,
        )

    def results(self, *, force: bool = False) -> pd.DataFrame:
        """Every result row, hidden models included (the files are public either way);
        callers must not modify the frame (it is shared)."""
        return self._results.get(force=force).value

    @property
    def version(self) -> tuple[int, int]:
        """Changes whenever the rows, the hidden models or the request records change: a
        key for derived caches."""
        return self.snapshot().version

    @property
    def problems(self) -> tuple[str, ...]:
        return self._results.get().problems + self._requests.get().problems

    def result_problems(self, *, force: bool = False) -> tuple[str, ...]:
        return self._results.get(force=force).problems

    def requests(self) -> list[dict[str, Any]]:
        return self._requests.get().value

    def metadata(self) -> dict[str, ModelMeta]:
        return self.snapshot().metadata


_STORES: dict[Path, ResultStore] = {}
_STORES_LOCK = threading.Lock()


def store_for(data: DataDir | str | os.PathLike[str]) -> ResultStore:
    """One shared store per data directory, so every caller benefits from the same cache."""
    data_dir = data if isinstance(data, DataDir) else DataDir.at(data)
    key = data_dir.root.resolve()
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = ResultStore(data_dir)
        return store


def load_results(data: DataDir | str | os.PathLike[str], *, strict: bool = False) -> pd.DataFrame:
    """All result rows of a data directory (cached). `strict` raises LoadError on a bad file."""
    store = store_for(data)
    frame = store.results(force=True)
    if strict and (problems := store.result_problems()):
        raise LoadError(f"cannot read {len(problems)} result file(s): {problems[0]}")
    return frame
