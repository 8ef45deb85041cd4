"""Bulk downloads against the ordinary REST API, at 10,000 models (issue 17.8).

One run, one data directory (benchmarks/leaderboard_latency.py's synthetic rows), the Space
itself (`python app.py`) on loopback:

  1. the first (cold) /api/v1/results.json after start-up, and a warm one, gzipped as a
     browser asks for it;
  2. ordinary /api/v1/leaderboard calls (a few clients, warmed filter combinations): p50
     and p99 with nothing else going on;
  3. the same while 2 clients, each in its own process, download /api/v1/results.json and
     /api/v1/results.csv (gzip) in a loop, as fast as they can.

The reference is (2), measured in the same run on the same server: the goal is the p99 of
(3) within 1.5x of it. The machine is shared (2 cores): the load average is printed.

    python benchmarks/api_bulk.py [--models N] [--data DIR] [--requests N] [--clients N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.api_latency import rest_load, rss_mib, start, stop  # noqa: E402
from benchmarks.leaderboard_latency import CATEGORY_ROWS, combinations, free_port, wait_ready, write_data  # noqa: E402
from evaluator.storage import DataDir  # noqa: E402

BULK_PATHS = ("/api/v1/results.json", "/api/v1/results.csv")


def bulk_client(url: str, stop_file: str, index: int) -> None:
    """Download bulk files in a loop until `stop_file` exists (run in its own process); print counts."""
    import httpx

    done, received = 0, 0
    with httpx.Client(base_url=url, timeout=120, headers={"Accept-Encoding": "gzip"}) as http:
        while not os.path.exists(stop_file):
            path = BULK_PATHS[(done + index) % len(BULK_PATHS)]
            with http.stream("GET", path) as response:
                response.raise_for_status()
                for chunk in response.iter_raw():  # as sent: the client does not inflate it
                    received += len(chunk)
            done += 1
    print(f"{done} {received}", flush=True)


def timed_get(url: str, path: str) -> tuple[float, int]:
    import httpx

    started = time.perf_counter()
    size = 0
    with (
        httpx.Client(base_url=url, timeout=300, headers={"Accept-Encoding": "gzip"}) as http,
        http.stream("GET", path) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_raw():  # bytes as sent (gzipped)
            size += len(chunk)
    return time.perf_counter() - started, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--data", help="data directory to create or reuse (default: a temporary directory)")
    parser.add_argument("--requests", type=int, default=600, help="ordinary requests per measurement")
    parser.add_argument("--clients", type=int, default=4, help="ordinary clients at once")
    parser.add_argument("--bulk-client", nargs=3, metavar=("URL", "STOP_FILE", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bulk_client:
        bulk_client(args.bulk_client[0], args.bulk_client[1], int(args.bulk_client[2]))
        return 0

    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="api-bulk-"))
    data = DataDir.at(root)
    written = write_data(data, args.models)
    print(
        f"data: {args.models:,} models x {len(CATEGORY_ROWS)} categories in {root}"
        + (f" (written in {written:.0f} s)" if written else "")
    )
    from leaderboard.store import ResultStore

    ResultStore(data).results()  # the Space starts from the saved snapshot
    port = free_port()
    env = {
        "CRISIS_DATA": str(root),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "CRISIS_DEMO": "0",
        "CRISIS_EMBEDDED_WORKER": "0",
        "CRISIS_SEED_BASELINES": "0",
    }
    space = start([str(ROOT / "app.py")], env)
    url = f"http://127.0.0.1:{port}"
    combos = list(combinations())[:48]
    try:
        wait_ready(url + "/api/v1/boards", space, timeout=1200)
        cold, size = timed_get(url, BULK_PATHS[0])
        warm, _ = timed_get(url, BULK_PATHS[0])
        print(f"results.json ({size / 1e6:.1f} MB gzipped): first {cold * 1000:.0f} ms, again {warm * 1000:.0f} ms")
        timed_get(url, BULK_PATHS[1])
        rest_load(url, "/api/v1/leaderboard", 4, len(combos) * 2, combos)  # warm every view used
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

        alone = rest_load(url, "/api/v1/leaderboard", args.clients, args.requests, combos)
        stop_file = root / "bulk-clients.stop"
        stop_file.unlink(missing_ok=True)
        loaders = [
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--bulk-client", url, str(stop_file), str(i)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                env=os.environ | {"PYTHONPATH": str(ROOT)},
            )
            for i in range(2)
        ]
        try:
            time.sleep(2.0)  # both loops under way
            loaded = rest_load(url, "/api/v1/leaderboard", args.clients, args.requests, combos)
        finally:
            stop_file.touch()
            downloads = 0
            for proc in loaders:
                try:
                    out, _ = proc.communicate(timeout=300)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, _ = proc.communicate()
                downloads += int(out.split()[0]) if out.strip() else 0
            stop_file.unlink(missing_ok=True)
        print(f"Space RSS {rss_mib(space.pid):.0f} MiB")
        print(f"\n{args.clients} ordinary clients, {int(alone['requests'])} requests each measurement")
        for name, r in (("unloaded", alone), ("2 clients on bulk downloads", loaded)):
            print(
                f"  {name:<28} {r['rps']:6.1f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                f"({int(r['errors'])} errors)"
            )
        ratio = loaded["p99_ms"] / alone["p99_ms"]
        print(f"  bulk downloads completed by the 2 loading clients meanwhile: {downloads}")
        print(f"\ngoal: loaded p99 / unloaded p99 = {ratio:.2f} (goal <= 1.5)  {'ok' if ratio <= 1.5 else 'MISSED'}")
        print(f"      loaded p50 / unloaded p50 = {loaded['p50_ms'] / alone['p50_ms']:.2f}")
    finally:
        stop(space)
    if not args.data:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
