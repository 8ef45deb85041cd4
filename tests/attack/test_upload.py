"""Oversized uploads and request bodies are refused before they are read (issue 10.3)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx

from leaderboard.limits import MAX_REQUEST_BYTES, MAX_UPLOAD_BYTES
from tests.space.conftest import Served

OVER = max(MAX_REQUEST_BYTES, MAX_UPLOAD_BYTES) + 4096


def test_an_upload_over_the_limit_is_refused(served: Served) -> None:
    files = {"files": ("big.bin", b"\0" * OVER, "application/octet-stream")}
    response = httpx.post(served.url + "gradio_api/upload", files=files, timeout=30)
    assert response.status_code == 413
    small = httpx.post(served.url + "gradio_api/upload", files={"files": ("s.txt", b"hi", "text/plain")}, timeout=30)
    assert small.status_code != 413  # the limit, not a blanket refusal, answered the big one


def test_a_declared_oversized_body_gets_413_without_being_sent(served: Served) -> None:
    # A client that declares a huge body and sends one byte: answered at once, never read.
    url = httpx.URL(served.url)
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        head = (
            "POST /gradio_api/queue/join HTTP/1.1\r\n"
            f"Host: {url.host}:{url.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {50 * MAX_REQUEST_BYTES}\r\n\r\n{{"
        )
        sock.sendall(head.encode())
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_is_cut_off_at_the_limit(served: Served) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        block = b" " * 65536
        for _ in range(4 * OVER // len(block)):
            sent += len(block)
            yield block

    try:
        response = httpx.post(
            served.url + "gradio_api/queue/join",
            content=chunks(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client is still sending
    assert sent < 4 * OVER  # the server stopped reading; the generator was not drained
