"""The scheduled worker: `python -m evaluator worker [--store SPEC] [--interval S] [--once|--until-idle]`.

Each tick, an APScheduler interval job that never overlaps itself and coalesces missed
runs, does one request: return expired leases to the queue (crashed workers), claim the
next request, run the evaluation while a heartbeat thread keeps the lease alive, then
finish the request with its run id or fail it with a reason its submitter can read.

A run is resumable (evaluator.pipeline keeps every finished reply and judgement under
runs/<id>/ and the run id is a hash of the run's spec), so a request picked up again after
a crash continues where the dead worker stopped.

On SIGTERM or SIGINT the worker takes no new request and asks the current run to stop.
If the run has not wound down within the grace period, the worker gives the lease back
itself and exits: everything the run finished is already on disk.

The backend follows the request: open-weight models run on `vllm:` when a GPU and vLLM are
present, else on `hf:`; API models on `openai:` with the request's base URL and the key this
machine's environment configures for that host only (never from the request, never the
judge's); baselines as they are. The judge
comes from configuration: --judge, else $CRISIS_JUDGES (comma-separated), else heuristic.

On a Hub store (`--store hub:ORG/PREFIX`) the worker reads through its own mirror, pulls a
run it resumes from the private repo, pushes the run directory and the cache at the end of
each stage, and commits the result rows (results/<run_id>.parquet) before it marks the
request FINISHED: a worker that dies in between leaves the same file for the next one to
re-publish. On a Space ($SPACE_ID set) it takes only what needs no GPU (baselines, API
models); open-weight requests wait for a GPU worker.

Where the run happens is the executor's business (evaluator.executors): in this process
(`--executor local`, the default), or as one Ray task per request with the GPUs its model
needs (`--executor ray`, up to `--max-concurrent` at once, each slot with its own lease:
a WorkerPool of Workers, evaluator.worker.pool).

Modules: `config` (WorkerConfig, the backend a request gets on this machine), `core` (Worker:
claim, evaluate, settle), `schedule` (the job, the scheduler, `serve`), `pool` (several slots).
"""

from __future__ import annotations

from evaluator.worker.config import (
    DEFAULT_GRACE_S,
    DEFAULT_INTERVAL_S,
    JOB_ID,
    OPEN_WEIGHT_BACKENDS,
    WorkerConfig,
    api_key_env_for,
    backend_for,
    default_worker_name,
    tensor_parallel_for,
)
from evaluator.worker.core import Evaluate, Worker
from evaluator.worker.pool import WorkerPool
from evaluator.worker.schedule import job, serve, start_scheduler

__all__ = [
    "DEFAULT_GRACE_S",
    "DEFAULT_INTERVAL_S",
    "JOB_ID",
    "OPEN_WEIGHT_BACKENDS",
    "Evaluate",
    "Worker",
    "WorkerConfig",
    "WorkerPool",
    "api_key_env_for",
    "backend_for",
    "default_worker_name",
    "job",
    "serve",
    "start_scheduler",
    "tensor_parallel_for",
]
