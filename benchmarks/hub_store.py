"""The Hub store on the loopback Hub emulator: commits per request, claims per second with 4
workers, and mirror refresh time for 1,000 requests and 1,000 result files.

    .venv/bin/python benchmarks/hub_store.py [--requests 1000] [--results 1000] [--claims 40]

Every figure goes through the real huggingface_hub client over HTTP. Ratios are against
references measured in the same run: claims against the same claims by one worker, a cold
mirror refresh against a warm one (nothing changed: one repo_info call per repo).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.storage import json_bytes
from evaluator.storage.hub import HubStore
from submissions.queue import Queue
from submissions.records import RequestRecord, Status, utcnow
from submissions.store import HubRequestStore
from tests.support.hub_store import bench_site, parquet_bytes

STORE = "hub:crisis-org/bench"  # the emulator user may write to its org


def _record(n: int, prefix: str = "req") -> RequestRecord:
    now = utcnow() + timedelta(microseconds=n)
    return RequestRecord(
        id=f"{prefix}-{n:05d}", model="baseline:refusal", model_type="baseline", spec="baseline:refusal",
        submitter="bench", submitted_at=now, updated_at=now,
    ).moved(Status.PENDING, now, note="submitted")  # fmt: skip


def commits_per_request(site: object, open_store: object) -> dict[str, int]:
    """A request's life: create, claim, heartbeats, the run pushed at two stage ends, results, finish."""
    store: HubStore = open_store("life")  # type: ignore[operator]
    queue = Queue(HubRequestStore(store), lease_s=1800)
    queue.store.create(_record(0, "life"))
    lease = queue.claim("bench")
    assert lease is not None
    for stage in ("generated", "judged"):
        (store.data.root / "runs" / "r0").mkdir(parents=True, exist_ok=True)
        (store.data.root / "runs" / "r0" / "replies.jsonl").write_text(f"{stage}\n")
        store.push(["runs/r0/replies.jsonl"], stage)
    lease = queue.heartbeat(lease)  # one per 10 minutes of running
    (store.data.results).mkdir(parents=True, exist_ok=True)
    (store.data.results / "r0.parquet").write_bytes(parquet_bytes("life"))
    store.push(["results/r0.parquet"], "results")
    queue.finish(lease, "r0")
    return {"commits": store.commits, "heartbeats": 1}


def claims_per_second(open_store: object, n: int, workers: int) -> float:
    seed: HubStore = open_store(f"seed-{workers}")  # type: ignore[operator]
    seed_queue = Queue(HubRequestStore(seed))
    for i in range(n):
        seed_queue.store.create(_record(i, f"c{workers}"))
    queues = [Queue(HubRequestStore(open_store(f"claimer-{workers}-{i}"))) for i in range(workers)]  # type: ignore[operator]
    claimed: list[str] = []
    lock = threading.Lock()

    def work(q: Queue, name: str) -> None:
        while (lease := q.claim(name)) is not None:
            with lock:
                claimed.append(lease.request_id)

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(q, f"w{i}")) for i, q in enumerate(queues)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    assert sorted(claimed) == sorted({*claimed}) and len(claimed) == n, "a request was claimed twice or missed"
    # Leave nothing claimable for the next measurement.
    return n / elapsed


def mirror_refresh(open_store: object, requests: int, results: int) -> tuple[float, float]:
    writer: HubStore = open_store("filler")  # type: ignore[operator]
    batch = 500
    for start in range(0, requests, batch):
        chunk = range(start, min(requests, start + batch))
        writer.commit_files(
            {f"requests/fill-{i:05d}.json": json_bytes(_record(i, "fill").to_json()) for i in chunk},
            message="fill requests",
        )
    blob = parquet_bytes("fill")
    for start in range(0, results, batch):
        writer.commit_files(
            {f"results/fill-{i:05d}.parquet": blob for i in range(start, min(results, start + batch))},
            message="fill results",
        )
    t0 = time.perf_counter()
    reader: HubStore = open_store("cold-reader")  # type: ignore[operator]
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    reader.refresh()
    warm = time.perf_counter() - t0
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--claims", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_site(Path(tmp), STORE) as (site, open_store):
        life = commits_per_request(site, open_store)
        base = life["commits"] - life["heartbeats"]
        print(
            f"commits per request: {base} + 1 per heartbeat (every 10 min on the Hub home); measured "
            f"{life['commits']} with {life['heartbeats']} heartbeat: create, claim, 2 stage pushes, results, finish; "
            "budget 12 + 1 per 10 min"
        )
        one = claims_per_second(open_store, args.claims, 1)
        four = claims_per_second(open_store, args.claims, 4)
        print(f"claims/s: 1 worker {one:.1f}, 4 workers {four:.1f} (ratio {four / one:.2f}x)")
        cold, warm = mirror_refresh(open_store, args.requests, args.results)
        print(
            f"mirror refresh, {args.requests} requests + {args.results} result files: cold {cold:.2f} s, "
            f"warm (nothing changed) {warm * 1000:.1f} ms (ratio {cold / max(warm, 1e-9):.0f}x)"
        )


if __name__ == "__main__":
    main()
