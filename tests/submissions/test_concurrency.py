"""Several worker PROCESSES racing over one queue: every request runs exactly once."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path

from evaluator.storage import DataDir
from submissions.queue import Queue
from submissions.records import Status
from submissions.store import LocalRequestStore
from tests.submissions.helpers import make_record

WORKERS = 4
REQUESTS = 200


def _work(root: str, name: str, start: Event, log: str) -> None:
    queue = Queue(LocalRequestStore(DataDir(Path(root))), lease_s=300)
    start.wait()
    claimed = []
    queue.reclaim_expired()
    while (lease := queue.claim(name)) is not None:
        claimed.append(lease.request_id)
        queue.heartbeat(lease)
        queue.finish(lease, f"run-{lease.request_id}")
    Path(log).write_text(json.dumps(claimed))


def _race(data: DataDir, tmp_path: Path) -> Counter[str]:
    ctx = mp.get_context("fork")
    start = ctx.Event()
    logs = [tmp_path / f"w{i}.json" for i in range(WORKERS)]
    procs = [ctx.Process(target=_work, args=(str(data.root), f"w{i}", start, str(logs[i]))) for i in range(WORKERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    claims: Counter[str] = Counter()
    per_worker = []
    for log in logs:
        mine = json.loads(log.read_text())
        per_worker.append(len(mine))
        claims.update(mine)
    assert sum(per_worker) == REQUESTS
    return claims


def test_each_request_is_claimed_exactly_once(data: DataDir, tmp_path: Path) -> None:
    store = LocalRequestStore(data)
    for i in range(REQUESTS):
        store.create(make_record(i))
    claims = _race(data, tmp_path)
    assert set(claims) == {f"req-{i:05d}" for i in range(REQUESTS)}
    assert max(claims.values()) == 1
    records = store.all()
    assert all(r.status == Status.FINISHED and r.attempts == 1 for r in records)
    assert all(r.run_id == f"run-{r.id}" for r in records)
    assert list(store.queued_ids()) == [] and store.running_ids() == []


def test_expired_leases_are_reclaimed_once_under_contention(data: DataDir, tmp_path: Path) -> None:
    # Every request was RUNNING under a worker that died an hour ago; four workers start at once,
    # each reclaiming before it claims. Each request must come back once and run once more.
    store = LocalRequestStore(data)
    dead = datetime.now(UTC) - timedelta(hours=1)
    for i in range(REQUESTS):
        store.create(make_record(i, status=Status.RUNNING, worker="dead", attempts=1, lease_expires_at=dead))
    claims = _race(data, tmp_path)
    assert max(claims.values()) == 1 and len(claims) == REQUESTS
    for record in store.all():
        assert record.status == Status.FINISHED and record.attempts == 2
        assert [h.status for h in record.history] == [Status.PENDING, Status.RUNNING, Status.FINISHED]
