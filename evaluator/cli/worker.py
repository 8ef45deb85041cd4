"""`python -m evaluator worker`: evaluate queued requests on a schedule (evaluator.worker does the work)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Final, cast

from evaluator.executors import make_executor
from evaluator.executors.batch import BatchPlan
from evaluator.storage import STORE_HELP, resolve_spec
from evaluator.worker import (
    DEFAULT_GRACE_S,
    DEFAULT_INTERVAL_S,
    OPEN_WEIGHT_BACKENDS,
    Worker,
    WorkerConfig,
    WorkerPool,
    serve,
)

EXIT_GAVE_UP: Final = 1  # `worker --once|--until-idle` that stopped on errors


def cmd_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.interval <= 0 or args.grace < 0:
        raise ValueError("--interval must be positive and --grace not negative")
    if args.once and args.until_idle:
        raise ValueError("--once and --until-idle: pick one")
    config = WorkerConfig.from_env(
        store=str(resolve_spec(args.store, args.data)),
        item_set=args.set,
        judges=tuple(args.judge) if args.judge else None,
        judge_base_url=args.judge_base_url,
        judge_api_key_env=args.judge_api_key_env,
        open_weight_backend=args.backend,
        name=args.name,
        lease_s=args.lease,
        bootstrap_rounds=args.bootstrap_rounds,
        concurrency=args.concurrency,
        executor=args.executor,
        ray_address=args.ray_address,
        max_concurrent=args.max_concurrent,
    )
    batch: dict[str, Any] = {}
    if args.batch_replicas:
        batch = {"batch": BatchPlan(replicas=args.batch_replicas)}
    executor = make_executor(
        config.executor, ray_address=config.ray_address, max_concurrent=config.max_concurrent, **batch
    )
    worker = Worker(config, executor=executor)
    worker.load_set()  # a bad --set is reported now, as bad input, before any request is touched
    if executor.max_concurrent > 1:
        # Slots of one driver, each with its own lease and heartbeat, behind the same tick/shutdown.
        worker = cast(Worker, WorkerPool(worker, executor.max_concurrent, wait_all=args.once or args.until_idle))
    result, clean = serve(
        worker, interval_s=args.interval, once=args.once, grace_s=args.grace, until_idle=args.until_idle
    )
    print(f"worker {config.name}: {result}", flush=True)
    if not clean:
        # The abandoned run's threads (HTTP pools, model engines) would hold the interpreter
        # open; its lease is already released and its finished items are on disk.
        sys.stderr.flush()
        os._exit(0)
    # A batch job (--once, --until-idle) that ended on errors must say so to whoever runs it
    # (a scheduled Hub job, a CI step), not exit 0 as if the queue were done.
    return EXIT_GAVE_UP if result == "error" else 0


def register(verbs: Any) -> None:
    p = verbs.add_parser(
        "worker",
        help="evaluate queued requests on a schedule",
        description="Claim queued requests and evaluate them: every --interval seconds, one request at a time. "
        "SIGTERM releases the current request's lease; finished items are kept and the next worker resumes.",
    )
    p.add_argument("--store", help=STORE_HELP)
    p.add_argument("--data", help="data directory: short for --store local:DIR (default: ./var, as the Space uses)")
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S, help="seconds between ticks (default 30)")
    p.add_argument("--once", action="store_true", help="process at most one request, then exit")
    p.add_argument("--until-idle", action="store_true", help="process requests until the queue is empty, then exit")
    p.add_argument("--set", help="item set to evaluate on (default: $CRISIS_SET, else public-sample)")
    p.add_argument("--judge", action="append", help="judge spec, repeatable (default: $CRISIS_JUDGES, else heuristic)")
    p.add_argument("--judge-base-url", help="endpoint for openai: judges (default: $CRISIS_JUDGE_BASE_URL)")
    p.add_argument("--judge-api-key-env", help="env var holding the judge's API key (default OPENAI_API_KEY)")
    p.add_argument(
        "--backend",
        choices=OPEN_WEIGHT_BACKENDS,
        help="for open-weight models (default auto: vllm with a GPU and vLLM, else hf)",
    )
    p.add_argument("--name", help="worker name shown on requests (default: $CRISIS_WORKER_NAME or worker-HOST-PID)")
    p.add_argument(
        "--lease", type=float, help="seconds a claim lasts without a heartbeat (default $CRISIS_LEASE_S or 600)"
    )
    p.add_argument("--concurrency", type=int, help="concurrent requests to an API model (default 16)")
    p.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="where runs happen (default local: here)"
    )
    p.add_argument("--ray-address", help="Ray cluster to submit runs to (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument("--max-concurrent", type=int, default=1, help="requests evaluated at once (--executor ray)")
    p.add_argument("--batch-replicas", type=int, help="batch mode (--executor ray): one model over N Ray Data replicas")
    p.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, help="seconds a run gets to stop on SIGTERM")
    p.add_argument("--bootstrap-rounds", type=int, help="bootstrap rounds for intervals (default 1000)")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_worker)
