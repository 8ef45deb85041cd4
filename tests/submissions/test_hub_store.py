"""The Hub request store and the queue on it, against the Hub emulator over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from submissions.errors import InvalidTransition, LeaseLost
from submissions.queue import Queue
from submissions.records import RequestRecord, Status, utcnow
from submissions.store import HubRequestStore, RequestExists, request_store_for
from tests.support.hub_store import HubSite, hub_site

STORE = "hub:crisis-org/q"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def _record(n: int, spec: str = "baseline:refusal", model_type: str = "baseline") -> RequestRecord:
    now = utcnow() + timedelta(microseconds=n)
    return RequestRecord(
        id=f"req-{n:04d}",
        model=spec,
        model_type=model_type,  # type: ignore[arg-type]
        spec=spec,
        submitter="tester",
        submitted_at=now,
        updated_at=now,
    ).moved(Status.PENDING, now, note="submitted")


def _queue(site: HubSite, name: str, lease_s: float = 600.0) -> Queue:
    store = request_store_for(site.open(name))
    assert isinstance(store, HubRequestStore)
    return Queue(store, lease_s=lease_s, max_attempts=2)


def test_records_round_trip_and_are_public(site: HubSite) -> None:
    q = _queue(site, "a")
    q.store.create(_record(1))
    with pytest.raises(RequestExists):
        q.store.create(_record(1))
    assert q.get("req-0001").status == Status.PENDING
    other = _queue(site, "b")
    assert [r.id for r in other.records()] == ["req-0001"]
    assert b'"status": "PENDING"' in site.anonymous_download("crisis-org/q-requests", "requests/req-0001.json")


def test_a_stale_mirror_retries_on_412_and_applies_the_change_to_the_fresh_record(site: HubSite) -> None:
    a, b = _queue(site, "a"), _queue(site, "b")
    a.store.create(_record(1))
    b.store.create(_record(2))  # b's mirror is fresh, a's is stale now
    lease = b.claim("worker-b")
    assert lease is not None and lease.request_id == "req-0001"
    hub_a = a.store.hub  # type: ignore[attr-defined]
    before = hub_a.conflicts
    # a still sees req-0001 PENDING; cancelling it must act on the RUNNING record, after a 412.
    record = a.cancel("req-0001", user="tester")
    assert record.status == Status.CANCELLED
    assert hub_a.conflicts > before
    assert [h.status for h in record.history][-2:] == [Status.RUNNING, Status.CANCELLED]
    with pytest.raises(LeaseLost):
        b.heartbeat(lease)
    with pytest.raises(InvalidTransition):
        a.approve("req-0002", maintainer=True)


def test_two_workers_never_hold_the_same_request(site: HubSite) -> None:
    seed = _queue(site, "seed")
    for n in range(6):
        seed.store.create(_record(n))
    queues = [_queue(site, f"w{i}") for i in range(3)]
    leases: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        while (lease := queues[i].claim(f"w{i}")) is not None:
            with lock:
                leases.append((lease.request_id, f"w{i}"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    claimed = [rid for rid, _ in leases]
    assert sorted(claimed) == [f"req-{n:04d}" for n in range(6)]
    final = _queue(site, "check").records()
    assert all(r.status == Status.RUNNING and r.attempts == 1 for r in final)
    assert {r.id: r.worker for r in final} == dict(leases)


def test_a_claim_skips_what_the_worker_does_not_take(site: HubSite) -> None:
    q = _queue(site, "a")
    q.store.create(_record(1, "hf:org/model@abc", "open-weight"))
    q.store.create(_record(2))
    lease = q.claim("space", lambda r: r.model_type != "open-weight")
    assert lease is not None and lease.request_id == "req-0002"
    assert q.claim("space", lambda r: r.model_type != "open-weight") is None
    assert q.get("req-0001").status == Status.PENDING


def test_a_request_life_fits_the_commit_budget(site: HubSite) -> None:
    q = _queue(site, "a")
    hub = q.store.hub  # type: ignore[attr-defined]
    q.store.create(_record(1))
    lease = q.claim("w")
    assert lease is not None
    lease = q.heartbeat(lease, progress="judging 10/104")
    q.finish(lease, "run-1")
    assert hub.commits == 4  # create, claim, one heartbeat, finish
    assert q.get("req-0001").status == Status.FINISHED


def test_an_expired_lease_is_reclaimed_by_another_machine(site: HubSite) -> None:
    dead, alive = _queue(site, "dead", lease_s=0.5), _queue(site, "alive", lease_s=0.5)
    dead.store.create(_record(1))
    assert dead.claim("dead") is not None
    import time

    time.sleep(0.7)
    reclaimed = alive.reclaim_expired()
    assert [(r.request_id, r.status) for r in reclaimed] == [("req-0001", Status.PENDING)]
    lease = alive.claim("alive")
    assert lease is not None and lease.attempt == 2
