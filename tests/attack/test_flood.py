"""A flood of queued calls is refused, not bought (issue 10.1): the backlog is bounded.

Calls that nobody waits for must not pile up minutes of work: Gradio's queue holds at most
QUEUE_MAX_SIZE events, every endpoint together, and answers the rest 503 "Queue is full".
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from leaderboard.query import Filters, Leaderboard, QueryResult
from space.app import QUEUE_MAX_SIZE
from tests.space.conftest import Served, leaderboard_values


def test_a_flood_of_queued_calls_is_refused_beyond_the_bound(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    calls: list[str] = []
    real_query = Leaderboard.query

    def held_query(self: Leaderboard, filters: Filters = Filters()) -> QueryResult:
        calls.append(filters.search)
        gate.wait(timeout=60)  # the first calls hold their workers: everything after them queues
        return real_query(self, filters)

    monkeypatch.setattr(Leaderboard, "query", held_query)
    flood = QUEUE_MAX_SIZE + 40
    try:
        with httpx.Client(base_url=served.url, timeout=30) as http:

            def post(k: int) -> int:
                return http.post(
                    "gradio_api/call/leaderboard", json={"data": leaderboard_values(f"flood-{k}")}
                ).status_code

            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(post, range(flood)))
    finally:
        gate.set()
    refused = statuses.count(503)
    assert statuses.count(200) + refused == flood
    assert refused >= flood - QUEUE_MAX_SIZE - 8  # at most the bound waits (plus the few running)
    monkeypatch.undo()
    # The backlog drains and ordinary calls answer again.
    with httpx.Client(base_url=served.url, timeout=60) as http:
        for _ in range(120):
            posted = http.post("gradio_api/call/leaderboard", json={"data": leaderboard_values("acme")})
            if posted.status_code != 503:
                break
            time.sleep(0.5)
        assert posted.status_code == 200
        streamed = http.get(f"gradio_api/call/leaderboard/{posted.json()['event_id']}")
        assert "event: complete" in streamed.text
    assert len(calls) <= QUEUE_MAX_SIZE + 8


def test_queued_calls_of_a_client_that_left_are_dropped(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page (or client) that queues searches and goes away leaves no work behind: only the
    calls already running finish; the rest never start."""
    import uuid

    from tests.space.conftest import event_index

    gate = threading.Event()
    calls: list[str] = []
    real_query = Leaderboard.query

    def held_query(self: Leaderboard, filters: Filters = Filters()) -> QueryResult:
        calls.append(filters.search)
        gate.wait(timeout=60)
        return real_query(self, filters)

    monkeypatch.setattr(Leaderboard, "query", held_query)
    session = uuid.uuid4().hex
    fn_index = event_index(served.url, "leaderboard")
    queued = 30
    try:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            for k in range(queued):
                body = {"data": leaderboard_values(f"left-{k}"), "fn_index": fn_index, "session_hash": session}
                assert http.post("gradio_api/queue/join", json=body | {"event_data": None}).status_code == 200
            # The client listens, then leaves while its first calls are still held.
            with http.stream("GET", f"gradio_api/queue/data?session_hash={session}") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        break
        queue = served.demo._queue

        def still_queued() -> int:
            return sum(
                e.session_hash == session for q in queue.event_queue_per_concurrency_id.values() for e in q.queue
            )

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and still_queued():
            time.sleep(0.1)  # Gradio notices the closed stream on its next poll
        assert still_queued() == 0
        running = len(calls)
    finally:
        gate.set()
    time.sleep(2.0)  # anything still queued would start now
    left = [c for c in calls if c.startswith("left-")]
    assert running <= 8 and len(left) == running < queued
