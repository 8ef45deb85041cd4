"""Leaderboard latency with 10,000 models x 8 categories of result rows.

Prints:
  1. server-side time to load the rows (cold: every file read; restart: from the cached
     snapshot; cached: nothing changed), to build a view, and to load + filter + sort +
     format the table (median and p90 over filter combinations);
  2. HTTP latency of the `/leaderboard` endpoint under 50 concurrent clients on loopback
     (p50, p99, errors), against the real entry point (`python app.py`) in a subprocess so
     the load generator does not share the server's interpreter.

Synthetic rows are written one Parquet file per model, as the evaluator writes one file per
run. Usage: python benchmarks/leaderboard_latency.py [--models N] [--data DIR] [--requests N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluator.protocol.taxonomy import CATEGORIES, SIGNALS  # noqa: E402
from evaluator.results import OVERALL, RESULT_SCHEMA  # noqa: E402
from evaluator.storage import DataDir  # noqa: E402
from leaderboard.query import Filters, Leaderboard  # noqa: E402
from leaderboard.store import ResultStore  # noqa: E402

CATEGORY_ROWS = (OVERALL, *CATEGORIES)  # 8 rows per model
MARKER = "benchmark-models.json"


def synthetic_table(models: int, seed: int = 0) -> pa.Table:
    """models x 8 rows with plausible, internally consistent figures (vectorised)."""
    rng = np.random.default_rng(seed)
    per = len(CATEGORY_ROWS)
    total = models * per
    model_index = np.repeat(np.arange(models), per)
    kinds = np.array(["open-weight", "open-weight", "open-weight", "api"])
    model_type = kinds[np.arange(models) % 4]
    names = np.array(
        [f"org{i % 97}/model-{i:05d}" if t == "open-weight" else f"api-model-{i:05d}" for i, t in enumerate(model_type)]
    )
    n = np.full(total, 60)
    base_harm = rng.uniform(0.0, 0.4, models)
    harm = np.clip(base_harm[model_index] + rng.normal(0, 0.03, total), 0, 1)
    harm = np.round(harm * 60) / 60
    half = 1.96 * np.sqrt(np.maximum(harm * (1 - harm), 0.01) / 60)
    level = np.clip(rng.uniform(2.0, 4.8, models)[model_index] + rng.normal(0, 0.1, total), 1, 5)
    appropriate = np.clip(rng.uniform(0.1, 0.9, models)[model_index], 0, 1 - harm)
    is_overall = np.tile(np.arange(per) == 0, models)
    when = datetime(2025, 1, 15, tzinfo=UTC)
    columns: dict[str, Any] = {
        "model": names[model_index],
        "revision": np.full(total, "0123456789abcdef0123456789abcdef01234567"),
        "model_type": model_type[model_index],
        "set_name": np.full(total, "heldout"),
        "set_version": np.full(total, "v1"),
        "judge": np.full(total, "judge-a"),
        "protocol_version": np.full(total, "1"),
        "run_id": np.array([f"run{i:06d}" for i in range(models)])[model_index],
        "evaluated_at": np.full(total, when),
        "category": np.tile(np.array(CATEGORY_ROWS), models),
        "n": n,
        "unscored": np.zeros(total, dtype=np.int64),
        "mean_level": level,
        "mean_level_lo": level - 0.15,
        "mean_level_hi": level + 0.15,
        "harm_rate": harm,
        "harm_rate_lo": np.clip(harm - half, 0, 1),
        "harm_rate_hi": np.clip(harm + half, 0, 1),
        "inappropriate_rate": harm,
        "appropriate_rate": appropriate,
        "full_rate": appropriate / 2,
        "judge_official": np.full(total, True),
    }
    overall_only = {
        "detection_accuracy": rng.uniform(0.5, 0.95, models),
        "detection_macro_f1": rng.uniform(0.4, 0.95, models),
        "miss_rate": rng.uniform(0.0, 0.3, models),
        "over_refusal_rate": rng.uniform(0.0, 0.3, models),
        "enabling_rate": rng.uniform(0.0, 0.1, models),
    }
    for key, values in overall_only.items():
        columns[key] = np.where(is_overall, values[model_index], np.nan)
    for signal in SIGNALS:
        columns[f"n_{signal}"] = np.full(total, 20)
        columns[f"harm_rate_{signal}"] = np.clip(harm + rng.normal(0, 0.05, total), 0, 1)
        columns[f"mean_level_{signal}"] = level
        columns[f"appropriate_rate_{signal}"] = appropriate
    arrays = []
    for field in RESULT_SCHEMA:
        if field.name in columns:
            values = columns[field.name]
            mask = None
            if isinstance(values, np.ndarray) and values.dtype.kind == "f":
                mask = np.isnan(values)
            arrays.append(pa.array(values, type=field.type, mask=mask))
        else:
            arrays.append(pa.nulls(total, field.type))
    return pa.Table.from_arrays(arrays, schema=RESULT_SCHEMA)


def write_data(data: DataDir, models: int) -> float:
    marker = data.root / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("models") == models:
        return 0.0
    shutil.rmtree(data.root, ignore_errors=True)
    data.results.mkdir(parents=True)
    start = time.perf_counter()
    table = synthetic_table(models)
    per = len(CATEGORY_ROWS)
    for i in range(models):
        # One file per run, as the evaluator writes them (no fsync: this is set-up, not measured).
        pq.write_table(table.slice(i * per, per), data.results / f"run{i:06d}.parquet")
    marker.write_text(json.dumps({"models": models}))
    return time.perf_counter() - start


def combinations() -> Iterator[Filters]:
    for category, signal, search, types, harm, sort, baselines in itertools.product(
        (OVERALL, "self_harm"),
        ("all", "indirect"),
        ("", "org1", "model-0001; api"),
        ((), ("api",)),
        ((0.0, 100.0), (5.0, 20.0)),
        (("rank", False), ("harm_rate", True), ("model", False)),
        (True, False),
    ):
        yield Filters(
            category=category,
            signal=signal,
            search=search,
            model_types=types,
            harm_min=harm[0],
            harm_max=harm[1],
            sort_by=sort[0],
            descending=sort[1],
            show_baselines=baselines,
        )


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def server_side(data: DataDir) -> dict[str, float]:
    figures: dict[str, float] = {}
    shutil.rmtree(data.cache, ignore_errors=True)
    start = time.perf_counter()
    store = ResultStore(data)
    rows = store.results()
    figures["cold_load_s"] = time.perf_counter() - start
    figures["rows"] = float(len(rows))
    start = time.perf_counter()
    store = ResultStore(data)
    store.results()
    figures["restart_load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    store.results(force=True)
    figures["cached_rescan_s"] = time.perf_counter() - start
    board = Leaderboard(store)
    start = time.perf_counter()
    board.table(Filters())
    figures["first_view_s"] = time.perf_counter() - start
    for combo in combinations():  # warm every (category, signal) view once
        board.view(board.board(""), combo.category, combo.signal)  # type: ignore[arg-type]
    timings = []
    for combo in combinations():
        start = time.perf_counter()
        store.results()
        board.table(combo)
        timings.append(time.perf_counter() - start)
    figures["combinations"] = float(len(timings))
    figures["query_median_ms"] = statistics.median(timings) * 1000
    figures["query_p90_ms"] = percentile(timings, 90) * 1000
    figures["query_max_ms"] = max(timings) * 1000
    return figures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data: DataDir, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "CRISIS_DATA": str(data.root),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> float:
    import httpx

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not start in time")


def payload(f: Filters) -> dict[str, Any]:
    return {
        "data": [
            f.board,
            f.category,
            f.signal,
            f.search,
            list(f.model_types),
            list(f.licenses),
            f.params_min,
            f.params_max,
            f.harm_min,
            f.harm_max,
            f.show_baselines,
            [c for c in f.columns if c not in ("rank", "model")],
            f.sort_by,
            f.descending,
            f.limit,
        ]
    }


def http_load(
    url: str, clients: int, requests: int, deadline_s: float, combos: list[Filters] | None = None
) -> dict[str, float]:
    import httpx

    combos = combos or list(combinations())
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline_s
    per_client = requests // clients

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for k in range(per_client):
                if time.monotonic() > stop_at:
                    return
                body = payload(combos[(index * per_client + k) % len(combos)])
                start = time.perf_counter()
                try:
                    posted = http.post("/gradio_api/call/leaderboard", json=body)
                    posted.raise_for_status()
                    event_id = posted.json()["event_id"]
                    got = http.get(f"/gradio_api/call/leaderboard/{event_id}")
                    got.raise_for_status()
                    if "event: complete" not in got.text:
                        raise RuntimeError(got.text[:200])
                    elapsed = time.perf_counter() - start
                    with lock:
                        latencies.append(elapsed)
                except Exception as exc:  # every failure is counted, none stops the run
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - start
    return {
        "clients": float(clients),
        "requests": float(len(latencies) + len(errors)),
        "errors": float(len(errors)),
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else float("nan"),
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "throughput_rps": len(latencies) / wall,
        "first_error": errors[0] if errors else "",  # type: ignore[dict-item]
    }


def print_server_side(figures: dict[str, float]) -> None:
    print("\nserver side (pandas, in process)")
    print(f"  rows loaded                         {int(figures['rows']):,}")
    print(f"  cold load, every file read          {figures['cold_load_s']:.1f} s")
    print(f"  restart load, from cached snapshot  {figures['restart_load_s']:.2f} s")
    print(f"  rescan of every file, none changed  {figures['cached_rescan_s'] * 1000:.1f} ms")
    print(f"  first query (builds the view)       {figures['first_view_s']:.2f} s")
    print(
        f"  load + filter + sort + format       median {figures['query_median_ms']:.1f} ms, "
        f"p90 {figures['query_p90_ms']:.1f} ms, max {figures['query_max_ms']:.1f} ms "
        f"over {int(figures['combinations'])} filter combinations"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--data", help="data directory to create or reuse (default: a temporary directory)")
    parser.add_argument("--requests", type=int, default=1000, help="HTTP requests in total")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--http-only", action="store_true", help="skip the in-process figures")
    args = parser.parse_args()

    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="leaderboard-bench-"))
    data = DataDir.at(root)
    written = write_data(data, args.models)
    print(f"data: {args.models:,} models x {len(CATEGORY_ROWS)} categories in {root}")
    if written:
        print(f"  wrote {args.models:,} result files in {written:.1f} s")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    figures = {} if args.http_only else server_side(data)
    if figures:
        print_server_side(figures)

    if not args.skip_http:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(data, port)
        try:
            ready = wait_ready(url + "/", proc, timeout=600)
            print(f"\nHTTP /leaderboard (python app.py on loopback, ready in {ready:.1f} s)")
            # Warm-up: every combination once (each view is built once per data version), imports, sockets.
            http_load(url, 8, len(list(combinations())), 600)
            single = http_load(url, 1, 50, 120)
            print(
                f"  1 client, {int(single['requests'])} sequential requests: p50 {single['p50_ms']:.0f} ms, "
                f"p99 {single['p99_ms']:.0f} ms (Gradio's queued call path plus the query)"
            )
            result = http_load(url, args.clients, args.requests, deadline_s=600)
            print(
                f"  {int(result['clients'])} concurrent clients, {int(result['requests'])} requests: "
                f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, max {result['max_ms']:.0f} ms, "
                f"{result['throughput_rps']:.1f} req/s, errors {int(result['errors'])}"
            )
            if result["first_error"]:
                print(f"  first error: {result['first_error']}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    if not args.data:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
