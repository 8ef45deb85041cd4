"""Queue throughput and claim latency: N requests, W worker processes claiming and finishing.

    .venv/bin/python benchmarks/queue_throughput.py [--requests 10000] [--workers 4] [--data DIR]

Each worker loops claim -> finish (no evaluation in between, so this measures the queue
alone) until the queue is empty. Prints claims per second over the whole race, median and
p99 latency of one claim call, and checks that no request ran twice and none was missed.
The data directory defaults to a fresh temporary one, deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from evaluator.storage import DataDir  # noqa: E402
from submissions.queue import Queue  # noqa: E402
from submissions.records import RequestRecord, Status  # noqa: E402
from submissions.store import LocalRequestStore  # noqa: E402


def _record(n: int, start: datetime) -> RequestRecord:
    at = start + timedelta(microseconds=n)
    return RequestRecord(
        id=f"bench-{n:06d}",
        model=f"org/model-{n}",
        model_type="open-weight",
        spec=f"hf:org/model-{n}@{n:040x}",
        sha=f"{n:040x}",
        submitter="bench",
        status=Status.PENDING,
        submitted_at=at,
        updated_at=at,
    )


def _fill(root: str, numbers: range) -> None:
    store = LocalRequestStore(DataDir(Path(root)))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in numbers:
        store.create(_record(n, start))


def _worker(root: str, name: str, go: Event, out: str) -> None:
    queue = Queue(LocalRequestStore(DataDir(Path(root))), lease_s=600)
    go.wait()
    claimed: list[str] = []
    latencies: list[float] = []
    while True:
        t0 = time.perf_counter()
        lease = queue.claim(name)
        latencies.append(time.perf_counter() - t0)
        if lease is None:
            latencies.pop()  # the final empty look is not a claim
            break
        claimed.append(lease.request_id)
        queue.finish(lease, f"run-{lease.request_id}")
    Path(out).write_text(json.dumps({"claimed": claimed, "latencies": latencies}))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(requests: int, workers: int, root: Path) -> int:
    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    chunks = [range(i, requests, workers) for i in range(workers)]
    fillers = [ctx.Process(target=_fill, args=(str(root), c)) for c in chunks]
    for p in fillers:
        p.start()
    for p in fillers:
        p.join()
    print(f"queued {requests} requests in {time.perf_counter() - t0:.1f} s")

    go = ctx.Event()
    outs = [root.parent / f"{root.name}-w{i}.json" for i in range(workers)]
    procs = [ctx.Process(target=_worker, args=(str(root), f"w{i}", go, str(outs[i]))) for i in range(workers)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let every worker reach the start line
    start = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start

    claims: Counter[str] = Counter()
    latencies: list[float] = []
    per_worker = []
    for out in outs:
        result = json.loads(out.read_text())
        claims.update(result["claimed"])
        latencies.extend(result["latencies"])
        per_worker.append(len(result["claimed"]))
        out.unlink()
    twice = [rid for rid, n in claims.items() if n > 1]
    records = LocalRequestStore(DataDir(root)).all()
    unfinished = [r.id for r in records if r.status != Status.FINISHED or r.attempts != 1]

    total = sum(per_worker)
    print(f"{workers} workers, {total} claims in {elapsed:.1f} s: {total / elapsed:.0f} claims/s")
    print(f"claims per worker: {per_worker}")
    print(
        f"claim latency: median {statistics.median(latencies) * 1e3:.2f} ms, "
        f"p99 {_percentile(latencies, 0.99) * 1e3:.2f} ms, max {max(latencies) * 1e3:.2f} ms"
    )
    print(f"ran twice: {len(twice)}; missed or not finished once: {len(unfinished) + requests - len(claims)}")
    return 0 if not twice and not unfinished and len(claims) == requests else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--data", type=Path, help="an empty directory to use (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.data:
        return run(args.requests, args.workers, args.data)
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        return run(args.requests, args.workers, Path(tmp) / "var")


if __name__ == "__main__":
    sys.exit(main())
