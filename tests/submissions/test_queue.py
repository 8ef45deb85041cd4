"""The request lifecycle, leases, expiry and recovery, in one process (see test_concurrency for many)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from evaluator.storage import DataDir
from submissions.errors import InvalidTransition, LeaseLost, NotAllowed, UnknownRequest
from submissions.queue import Queue
from submissions.records import Status
from submissions.store import LocalRequestStore
from tests.submissions.conftest import FakeClock
from tests.submissions.helpers import make_record


def fill(queue: Queue, n: int, **changes: Any) -> list[str]:
    for i in range(n):
        queue.store.create(make_record(i, **changes))
    return [f"req-{i:05d}" for i in range(n)]


def test_lifecycle_pending_running_finished(queue: Queue, clock: FakeClock, data: DataDir) -> None:
    (rid,) = fill(queue, 1)
    assert queue.position(rid) == 1
    lease = queue.claim("w1")
    assert lease is not None and lease.request_id == rid and lease.attempt == 1
    running = queue.get(rid)
    assert running.status == Status.RUNNING and running.worker == "w1" and running.attempts == 1
    assert running.started_at == clock() and running.lease_expires_at == lease.expires_at
    assert queue.position(rid) is None
    assert queue.claim("w2") is None

    clock.advance(seconds=30)
    lease = queue.heartbeat(lease)
    assert queue.get(rid).lease_expires_at == lease.expires_at == clock() + queue.lease

    clock.advance(seconds=30)
    done = queue.finish(lease, "run-abc", set_version="v2")
    assert done.status == Status.FINISHED and done.run_id == "run-abc" and done.set_version == "v2"
    assert done.worker is None and done.lease_expires_at is None and done.finished_at == clock()
    assert [h.status for h in done.history] == [Status.RUNNING, Status.FINISHED]
    # The file on disk is the record, as published.
    on_disk = json.loads((data.requests / f"{rid}.json").read_text())
    assert on_disk["status"] == "FINISHED" and on_disk["run_id"] == "run-abc"
    with pytest.raises(LeaseLost):
        queue.heartbeat(lease)


def test_fail_records_reason_and_error_class(queue: Queue) -> None:
    fill(queue, 1)
    lease = queue.claim("w1")
    assert lease is not None
    failed = queue.fail(lease, "the model could not be loaded:\nout of memory", "BackendError")
    assert failed.status == Status.FAILED
    assert failed.reason == "the model could not be loaded: out of memory"
    assert failed.error_class == "BackendError"


def test_fail_with_retry_requeues_until_attempts_run_out(queue: Queue) -> None:
    fill(queue, 1)
    for attempt in (1, 2):
        lease = queue.claim("w1")
        assert lease is not None and lease.attempt == attempt
        record = queue.fail(lease, f"the API timed out ({attempt})", "APITimeout", retry=True)
        assert record.status == Status.PENDING and record.reason == f"the API timed out ({attempt})"
    lease = queue.claim("w1")
    assert lease is not None and lease.attempt == 3
    record = queue.fail(lease, "the API timed out (3)", "APITimeout", retry=True)
    assert record.status == Status.FAILED and record.reason == "the API timed out (3)"


def test_order_is_priority_then_oldest(queue: Queue) -> None:
    queue.store.create(make_record(3))
    queue.store.create(make_record(1))
    queue.store.create(make_record(2, priority=10))
    queue.store.create(make_record(0, status=Status.PENDING_APPROVAL, model_type="api"))
    assert queue.positions() == {"req-00002": 1, "req-00001": 2, "req-00003": 3}
    claimed = []
    while (lease := queue.claim("w")) is not None:
        claimed.append(lease.request_id)
    assert claimed == ["req-00002", "req-00001", "req-00003"]  # never the one awaiting approval


def test_lease_expiry_returns_the_request_to_the_queue(queue: Queue, clock: FakeClock) -> None:
    (rid,) = fill(queue, 1)
    lease = queue.claim("crashed")
    assert lease is not None
    clock.advance(seconds=59)
    assert queue.reclaim_expired() == []
    clock.advance(seconds=2)
    [reclaimed] = queue.reclaim_expired()
    assert (reclaimed.request_id, reclaimed.status) == (rid, Status.PENDING)
    record = queue.get(rid)
    assert record.status == Status.PENDING and record.worker is None and record.error_class == "LeaseExpired"
    assert "stopped responding" in (record.reason or "") and record.attempts == 1
    # The dead worker cannot finish what is no longer its own...
    with pytest.raises(LeaseLost):
        queue.finish(lease, "late")
    # ...and the next worker picks the request up as attempt 2.
    again = queue.claim("fresh")
    assert again is not None and again.request_id == rid and again.attempt == 2
    with pytest.raises(LeaseLost):
        queue.heartbeat(lease)


def test_heartbeats_keep_a_long_run_alive(queue: Queue, clock: FakeClock) -> None:
    fill(queue, 1)
    lease = queue.claim("w")
    assert lease is not None
    for _ in range(10):
        clock.advance(seconds=50)
        lease = queue.heartbeat(lease)
        assert queue.reclaim_expired() == []


def test_after_max_attempts_it_fails_with_the_last_reason(queue: Queue, clock: FakeClock) -> None:
    (rid,) = fill(queue, 1)
    for attempt in (1, 2, 3):
        lease = queue.claim(f"w{attempt}")
        assert lease is not None and lease.attempt == attempt
        clock.advance(seconds=61)
        [reclaimed] = queue.reclaim_expired()
        assert reclaimed.status == (Status.FAILED if attempt == 3 else Status.PENDING)
    record = queue.get(rid)
    assert record.status == Status.FAILED and record.error_class == "LeaseExpired"
    assert record.reason is not None and "attempt 3 of 3" in record.reason
    assert queue.claim("w4") is None


def test_clean_release_does_not_use_an_attempt(queue: Queue) -> None:
    (rid,) = fill(queue, 1)
    lease = queue.claim("w")
    assert lease is not None
    released = queue.release(lease)
    assert released.status == Status.PENDING and released.attempts == 0 and released.worker is None
    assert queue.position(rid) == 1


def test_cancel(queue: Queue) -> None:
    a, b, c = fill(queue, 3)
    with pytest.raises(NotAllowed):
        queue.cancel(a, user="mallory")
    assert queue.cancel(a, user="ALICE").status == Status.CANCELLED
    lease = queue.claim("w")
    assert lease is not None and lease.request_id == b
    cancelled = queue.cancel(b, user="boss", maintainer=True, reason="duplicate of an older request")
    assert cancelled.status == Status.CANCELLED and cancelled.reason == "duplicate of an older request"
    with pytest.raises(LeaseLost):  # the worker notices on its next heartbeat and stops
        queue.heartbeat(lease)
    with pytest.raises(InvalidTransition):
        queue.cancel(a, user="alice")
    assert queue.positions() == {c: 1}


def test_retry_is_for_maintainers_and_resets_attempts(queue: Queue, clock: FakeClock) -> None:
    (rid,) = fill(queue, 1)
    lease = queue.claim("w")
    assert lease is not None
    queue.fail(lease, "boom", "RuntimeError")
    with pytest.raises(NotAllowed):
        queue.retry(rid, maintainer=False)
    record = queue.retry(rid, maintainer=True)
    assert record.status == Status.PENDING and record.attempts == 0 and record.reason is None
    with pytest.raises(InvalidTransition):
        queue.retry(rid, maintainer=True)


def test_retry_refuses_when_another_request_covers_the_model(queue: Queue) -> None:
    queue.store.create(make_record(1, status=Status.FAILED))
    queue.store.create(make_record(2, model="org/model-1", sha=f"{1:040x}", spec=f"hf:org/model-1@{1:040x}"))
    with pytest.raises(InvalidTransition, match="req-00002"):
        queue.retry("req-00001", maintainer=True)


def test_approve_and_reject_api_requests(queue: Queue) -> None:
    api: dict[str, Any] = {
        "model_type": "api",
        "spec": "openai:gpt-x",
        "model": "gpt-x",
        "sha": None,
        "base_url": "https://a/v1",
    }
    queue.store.create(make_record(1, status=Status.PENDING_APPROVAL, **api))
    queue.store.create(make_record(2, status=Status.PENDING_APPROVAL, **{**api, "spec": "openai:y", "model": "y"}))
    assert queue.claim("w") is None
    with pytest.raises(NotAllowed):
        queue.approve("req-00001", maintainer=False)
    assert queue.approve("req-00001", maintainer=True, priority=5).status == Status.PENDING
    rejected = queue.reject("req-00002", maintainer=True, reason="no public pricing")
    assert rejected.status == Status.REJECTED and rejected.reason == "no public pricing"
    with pytest.raises(InvalidTransition):
        queue.approve("req-00002", maintainer=True)
    lease = queue.claim("w")
    assert lease is not None and lease.request_id == "req-00001"


def test_unknown_and_hostile_ids(queue: Queue) -> None:
    for rid in ("nope", "../../etc/passwd", "/abs", "a\x00b", ""):
        with pytest.raises(UnknownRequest):
            queue.get(rid)
        with pytest.raises(UnknownRequest):
            queue.cancel(rid, user="alice", maintainer=True)


def test_a_corrupt_record_does_not_hide_the_others(queue: Queue, data: DataDir) -> None:
    fill(queue, 2)
    (data.requests / "req-00000.json").write_text("{torn")
    assert [r.id for r in queue.records()] == ["req-00001"]
    lease = queue.claim("w")
    assert lease is not None and lease.request_id == "req-00001"


def test_stale_index_entries_heal(queue: Queue, data: DataDir) -> None:
    store = queue.store
    assert isinstance(store, LocalRequestStore)
    fill(queue, 2)
    # A record that left PENDING behind the index's back (a crash, a hand edit) is skipped...
    path = data.requests / "req-00000.json"
    record = json.loads(path.read_text())
    record["status"] = "FINISHED"
    path.write_text(json.dumps(record))
    lease = queue.claim("w")
    assert lease is not None and lease.request_id == "req-00001"
    assert list(store.queued_ids()) == []
    # ...or the index was lost altogether: repair_index rebuilds it from the records.
    for name in os.listdir(data.queue / "running"):
        os.unlink(data.queue / "running" / name)
    assert store.running_ids() == []
    assert store.repair_index() == 1
    assert store.running_ids() == ["req-00001"]


def test_records_hold_no_secret_or_item_text(queue: Queue, data: DataDir) -> None:
    fill(queue, 1)
    lease = queue.claim("w")
    assert lease is not None
    queue.fail(lease, "x" * 1000, "E")
    record = json.loads((data.requests / "req-00000.json").read_text())
    assert len(record["reason"]) <= 300
    assert set(record) >= {"id", "status", "reason", "error_class", "attempts", "worker", "submitted_at"}
