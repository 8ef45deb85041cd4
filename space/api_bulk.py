"""The API's bodies and how they leave: the JSON of a frame, strong ETags and 304s, gzip,
the bulk downloads (every public result row as Parquet, CSV or JSON) built once per results
snapshot on a thread of their own and sent at a bounded pace, and the routes' small thread pool.

space.api's routes use these; nothing here knows a route or a filter.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import io
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, ParamSpec, TypeVar

import anyio
import orjson
import pandas as pd
import pyarrow.parquet as pq
from fastapi import Request
from fastapi.responses import Response

from leaderboard.export import ordered_rows, results_table, to_csv

GZIP_MIN_BYTES: Final = 1024
BULK_CACHE_SIZE: Final = 6  # bulk bodies kept per (snapshot, board, format)
# Bulk bodies leave the server at most this fast, all downloads together, in chunks that
# give the event loop back between them: a full gzipped results.json (13 MB at 10,000
# models) takes about half a second, and clients looping on it cannot take the CPU that
# ordinary calls need.
BULK_BYTES_PER_S: Final = 32 * 1024 * 1024
BULK_CHUNK: Final = 256 * 1024
# A process-local salt: snapshot versions restart at 1 with the process, an ETag must not.
_BOOT: Final = os.urandom(8).hex()


def strong_etag(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, (_BOOT, *parts))).encode()).hexdigest()[:32]
    return f'"{digest}"'


def gzip_etag(etag: str) -> str:
    return etag[:-1] + '-gzip"'


def respond(request: Request, etag: str, body: Callable[[], bytes], media: str, *, compress: bool) -> Response:
    """304 when the client has this representation; else the body, gzipped when it helps."""
    accepts_gzip = compress and "gzip" in request.headers.get("accept-encoding", "").lower()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=0, must-revalidate", "Vary": "Accept-Encoding"}
    unchanged = not_modified(request, etag, headers, gzipped=accepts_gzip)
    if unchanged is not None:
        return unchanged
    data = body()
    if accepts_gzip and len(data) >= GZIP_MIN_BYTES:
        data = gzip.compress(data, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
        headers["ETag"] = gzip_etag(etag)
    return Response(content=data, media_type=media, headers=headers)


def to_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def cell(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return cell(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [str(c) for c in frame.columns]
    values = [[cell(v) for v in frame[c].tolist()] for c in frame.columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)] if values else []


@dataclass(frozen=True, slots=True)
class BulkBody:
    raw: bytes
    gzipped: bytes | None  # None: not worth compressing (Parquet is compressed already)


class Bulk:
    """Bulk bodies per (snapshot version, board, format): every download of one snapshot
    is the same bytes, built once and compressed once, then served from here.

    The build (seconds of pandas and JSON at 10,000 models) runs on a thread of its own,
    never on the routes' small pool: a request waits for it without holding a route worker,
    so ordinary API calls go on while it runs, and downloads of a built snapshot cost only
    the sending.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: OrderedDict[tuple[Any, ...], BulkBody] = OrderedDict()
        self._pending: dict[tuple[Any, ...], Future[BulkBody]] = {}
        self._builder = ThreadPoolExecutor(1, thread_name_prefix="bulk-build")

    def get(self, key: tuple[Any, ...], build: Callable[[], bytes], *, compress: bool) -> Future[BulkBody]:
        with self._lock:
            body = self._data.get(key)
            if body is not None:
                self._data.move_to_end(key)
                done: Future[BulkBody] = Future()
                done.set_result(body)
                return done
            pending = self._pending.get(key)
            if pending is None:  # one build per key; later requests wait for the same one
                pending = self._pending[key] = self._builder.submit(self._build, key, build, compress)
            return pending

    def cached(self, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
        """A smaller body (the page's filtered CSV) built in the caller's thread, kept the same way."""
        with self._lock:
            body = self._data.get(key)
            if body is not None:
                self._data.move_to_end(key)
                return body.raw
        raw = build()
        with self._lock:
            self._data[key] = BulkBody(raw, None)
            while len(self._data) > BULK_CACHE_SIZE:
                self._data.popitem(last=False)
        return raw

    def _build(self, key: tuple[Any, ...], build: Callable[[], bytes], compress: bool) -> BulkBody:
        try:
            raw = build()
            gzipped = gzip.compress(raw, compresslevel=5) if compress and len(raw) >= GZIP_MIN_BYTES else None
            body = BulkBody(raw, gzipped)
            with self._lock:
                self._data[key] = body
                while len(self._data) > BULK_CACHE_SIZE:
                    self._data.popitem(last=False)
            return body
        finally:
            with self._lock:
                self._pending.pop(key, None)


class Egress:
    """One pace for every bulk download of this process (used on the event loop only)."""

    def __init__(self, bytes_per_s: float) -> None:
        self.bytes_per_s = bytes_per_s
        self._next = 0.0

    async def chunks(self, data: bytes) -> AsyncIterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(data), BULK_CHUNK):
            piece = view[start : start + BULK_CHUNK]
            now = time.monotonic()
            due = max(now, self._next)
            self._next = due + len(piece) / self.bytes_per_s
            await asyncio.sleep(due - now)  # 0 still yields to the other requests
            yield bytes(piece)


def not_modified(request: Request, etag: str, headers: dict[str, str], *, gzipped: bool) -> Response | None:
    """A 304 with `headers` when the client's If-None-Match names this representation (either
    ETag of it, or "*"); None when the body must be sent."""
    header = request.headers.get("if-none-match")
    if header:
        wanted = {t.strip().removeprefix("W/") for t in header.split(",")}
        if "*" in wanted or etag in wanted or gzip_etag(etag) in wanted:
            headers["ETag"] = gzip_etag(etag) if gzipped else etag
            return Response(status_code=304, headers=headers)
    return None


# Route work runs on this many threads, not on Starlette's pool of 40: the work is pandas
# and JSON under the GIL, so 40 threads only take turns slicing every request (and the event
# loop, which must accept and answer them) into 5 ms pieces. Two answer in arrival order and
# leave the loop the GIL between requests; the second covers a request waiting on the disk.
ROUTE_WORKERS: Final = 2
ROUTE_LIMITER: Final = anyio.CapacityLimiter(ROUTE_WORKERS)
P = ParamSpec("P")
R = TypeVar("R")


def offloaded(route: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """A sync route run on the API's own small thread pool; FastAPI reads the parameters
    from the wrapped function's signature."""

    @functools.wraps(route)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await anyio.to_thread.run_sync(functools.partial(route, *args, **kwargs), limiter=ROUTE_LIMITER)

    return run


def bulk_body(frame: pd.DataFrame, fmt: str) -> bytes:
    """Every row of `frame` in the bulk format `fmt` (parquet, csv or json)."""
    if fmt == "parquet":
        sink = io.BytesIO()
        pq.write_table(results_table(frame), sink)
        return sink.getvalue()
    ordered = ordered_rows(frame, all_columns=True)
    if fmt == "csv":
        # Opened in spreadsheets: a hostile model name must not become a formula.
        return to_csv(ordered, neutralise_formulas=True).encode("utf-8")
    return to_json(records(ordered))


__all__ = [
    "BULK_BYTES_PER_S",
    "GZIP_MIN_BYTES",
    "ROUTE_LIMITER",
    "ROUTE_WORKERS",
    "Bulk",
    "BulkBody",
    "Egress",
    "bulk_body",
    "cell",
    "gzip_etag",
    "not_modified",
    "offloaded",
    "records",
    "respond",
    "strong_etag",
    "to_json",
]
