"""Issue 17.8: bulk downloads do not starve the ordinary API.

Each bulk body is built once per results snapshot and compressed once; the build runs off
the routes' small pool, so an ordinary call is answered while a slow build is still going.
The API runs under uvicorn on loopback, as the Space serves it (no timings asserted: the
figures are in benchmarks/api_bulk.py).
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import space.api
import space.api_bulk
from evaluator.storage import DataDir
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from space.api import build_api
from tests.support.results_factory import write_demo_board


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    data = DataDir.at(tmp_path / "var")
    write_demo_board(data)
    port = _port()
    server = uvicorn.Server(uvicorn.Config(build_api(Leaderboard(ResultStore(data))), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/boards", timeout=5).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(10)


def test_a_bulk_body_is_compressed_once_per_snapshot(api_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = gzip.compress

    def counting(data: bytes, *args: Any, **kwargs: Any) -> bytes:
        calls.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(space.api_bulk.gzip, "compress", counting)
    bodies = []
    for _ in range(3):
        got = httpx.get(api_url + "/results.json", headers={"Accept-Encoding": "gzip"}, timeout=60)
        assert got.status_code == 200 and got.headers["content-encoding"] == "gzip"
        bodies.append(got.content)
    assert bodies[0] == bodies[1] == bodies[2]
    big = [n for n in calls if n >= space.api_bulk.GZIP_MIN_BYTES]
    assert len(big) == 1, f"compressed {len(big)} times for one snapshot"


def test_an_ordinary_call_is_answered_while_bulk_builds_are_running(
    api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    started = threading.Event()
    real = space.api.bulk_body

    def slow(frame: Any, fmt: str) -> bytes:
        started.set()
        release.wait(60)  # a cold build of a large board, held until the test says so
        return real(frame, fmt)

    monkeypatch.setattr(space.api, "bulk_body", slow)
    with ThreadPoolExecutor(4) as pool:
        downloads = [pool.submit(httpx.get, api_url + path, timeout=90) for path in ("/results.json", "/results.csv")]
        downloads += [pool.submit(httpx.get, api_url + "/results.json", timeout=90)]
        assert started.wait(30)
        time.sleep(0.5)  # every download is now waiting on a build
        try:
            ordinary = httpx.get(api_url + "/leaderboard", params={"limit": 5}, timeout=10)
            assert ordinary.status_code == 200 and ordinary.json()["rows"]
            assert not release.is_set() and not any(d.done() for d in downloads)
        finally:
            release.set()
        assert all(d.result().status_code == 200 for d in downloads)
