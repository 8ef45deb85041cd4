"""The scheduled worker: `python -m evaluator worker [--data DIR] [--interval S] [--once]`.

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
present, else on `hf:`; API models on `openai:` with the request's base URL and a key from
this machine's environment (never from the request); baselines as they are. The judge
comes from configuration: --judge, else $CRISIS_JUDGES (comma-separated), else heuristic.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from evaluator.storage import DEFAULT_DATA_DIR, DataDir

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from evaluator.backends import BackendOptions
    from evaluator.items import ItemSet
    from evaluator.pipeline import RunConfig, RunOutcome
    from submissions.queue import Lease, Queue
    from submissions.records import RequestRecord

log = logging.getLogger("evaluator.worker")

DEFAULT_INTERVAL_S: Final = 30.0
DEFAULT_GRACE_S: Final = 5.0
OPEN_WEIGHT_BACKENDS: Final = ("auto", "hf", "vllm")
JOB_ID: Final = "evaluator-worker"

Evaluate = Callable[["RunConfig", DataDir, Callable[[], bool]], "RunOutcome"]


def default_worker_name() -> str:
    # Recorded in public request files: a digest rather than the machine's host name.
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    return os.environ.get("CRISIS_WORKER_NAME") or f"worker-{host}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerConfig:
    data: str = DEFAULT_DATA_DIR
    item_set: str | None = None  # as `evaluator run --set` takes it; None: $CRISIS_SET, else public-sample
    judges: tuple[str, ...] = ("heuristic",)
    judge_base_url: str | None = None
    judge_api_key_env: str = "OPENAI_API_KEY"
    open_weight_backend: str = "auto"
    name: str = field(default_factory=default_worker_name)
    lease_s: float | None = None  # None: $CRISIS_LEASE_S (submissions.config)
    max_attempts: int | None = None  # None: $CRISIS_MAX_ATTEMPTS
    heartbeat_s: float | None = None  # None: a third of the lease
    concurrency: int = 16
    timeout_s: float = 120.0
    bootstrap_rounds: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerConfig:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        judges = [j.strip() for j in env.get("CRISIS_JUDGES", "").split(",") if j.strip()]
        if judges:
            values["judges"] = tuple(judges)
        if env.get("CRISIS_JUDGE_BASE_URL"):
            values["judge_base_url"] = env["CRISIS_JUDGE_BASE_URL"]
        if env.get("CRISIS_JUDGE_API_KEY_ENV"):
            values["judge_api_key_env"] = env["CRISIS_JUDGE_API_KEY_ENV"]
        if env.get("CRISIS_OPEN_WEIGHT_BACKEND"):
            values["open_weight_backend"] = env["CRISIS_OPEN_WEIGHT_BACKEND"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        if config.open_weight_backend not in OPEN_WEIGHT_BACKENDS:
            raise ValueError(f"open-weight backend must be one of {', '.join(OPEN_WEIGHT_BACKENDS)}")
        return config


# ------------------------------------------------------------------------ backend choice


def api_key_env_for(base_url: str | None, env: Mapping[str, str] | None = None) -> str:
    """Which environment variable holds the key for this provider.

    $CRISIS_API_KEYS maps hosts to variable names ("api.together.xyz=TOGETHER_API_KEY,...");
    any other host uses $CRISIS_API_KEY_ENV, else OPENAI_API_KEY.
    """
    from urllib.parse import urlsplit

    env = os.environ if env is None else env
    host = (urlsplit(base_url).hostname or "") if base_url else ""
    for pair in env.get("CRISIS_API_KEYS", "").split(","):
        name, sep, var = pair.strip().partition("=")
        if sep and host and name.strip().lower() == host.lower() and var.strip():
            return var.strip()
    return env.get("CRISIS_API_KEY_ENV") or "OPENAI_API_KEY"


def gpus() -> tuple[int, int]:
    """(CUDA device count, memory of the first device in bytes); (0, 0) without torch or GPU."""
    if importlib.util.find_spec("torch") is None:
        return 0, 0
    import torch

    if not torch.cuda.is_available():
        return 0, 0
    return torch.cuda.device_count(), int(torch.cuda.get_device_properties(0).total_memory)


def tensor_parallel_for(params: int | None, count: int, memory: int) -> int:
    """The fewest GPUs (a power of two) whose memory holds the weights with room for the KV cache."""
    if not params or count <= 1 or memory <= 0:
        return 1
    need = params * 2 * 1.3  # 16-bit weights, and headroom for activations and the KV cache
    tp = 1
    while tp * 2 <= count and need / tp > memory * 0.9:
        tp *= 2
    return tp


def backend_for(record: RequestRecord, config: WorkerConfig) -> tuple[str, BackendOptions]:
    """The spec and options that evaluate this request on this machine."""
    from evaluator.backends import BackendOptions, SpecError

    if record.model_type == "baseline":
        return record.spec, BackendOptions()
    if record.model_type == "api":
        if not record.base_url:
            raise SpecError("this API model request has no base URL")
        return record.spec, BackendOptions(
            base_url=record.base_url,
            api_key_env=api_key_env_for(record.base_url),
            concurrency=config.concurrency,
            timeout_s=config.timeout_s,
        )
    if not record.sha:
        raise SpecError("this request has no pinned commit; resubmit it")
    kind = config.open_weight_backend
    count, memory = (0, 0) if kind == "hf" else gpus()
    if kind == "auto":
        kind = "vllm" if count and importlib.util.find_spec("vllm") is not None else "hf"
    tp = tensor_parallel_for(record.params, count, memory) if kind == "vllm" else 1
    return f"{kind}:{record.model}@{record.sha}", BackendOptions(tensor_parallel_size=tp)


# --------------------------------------------------------------------------------- worker


def _public_reason(exc: BaseException) -> str:
    """A failure reason for the public record: our own one-line messages, never a stray exception's text.

    Backend, spec, set and run errors are written to be shown (and never quote items); any
    other exception is a bug whose message could hold anything, so only its class is named.
    """
    from evaluator.backends import BackendError, SpecError
    from evaluator.items import ItemSetError
    from evaluator.pipeline import RunError

    if isinstance(exc, BackendError | SpecError | ItemSetError | RunError) and str(exc):
        return str(exc).splitlines()[0]
    return f"the evaluation stopped on an internal error ({type(exc).__name__}); a maintainer has to look at it"


class Worker:
    """One worker: `tick()` is one scheduled run; `shutdown()` is the SIGTERM path."""

    def __init__(self, config: WorkerConfig, *, evaluate: Evaluate | None = None, queue: Queue | None = None) -> None:
        from submissions.config import Settings
        from submissions.queue import Queue as QueueClass

        settings = Settings.from_env()
        self.config = config
        self.data = DataDir.at(config.data)
        self.queue = queue or QueueClass.local(self.data, settings)
        if queue is None and (config.lease_s or config.max_attempts):
            self.queue = QueueClass(
                self.queue.store,
                lease_s=config.lease_s or settings.lease_s,
                max_attempts=config.max_attempts or settings.max_attempts,
            )
        lease_s = self.queue.lease.total_seconds()
        self.heartbeat_s = config.heartbeat_s or max(0.2, lease_s / 3)
        self.evaluate = evaluate or self._evaluate_with_progress
        self.progress: str | None = None  # published in the request record at each heartbeat
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self._state = threading.Lock()  # orders the job's settle against shutdown's release
        self._lease: Lease | None = None
        self._released = False

    def load_set(self) -> ItemSet:
        from evaluator.cli import resolve_set

        return resolve_set(self.config.item_set or os.environ.get("CRISIS_SET") or "public-sample", self.data)

    def set_for(self, record: RequestRecord, current: ItemSet) -> ItemSet:
        """The set version the request targets if this machine has it, else the current set.

        Requests name a version (a re-evaluation after a rotation names the new one); a
        request whose version is not here runs on the current set, and its record says so
        when it finishes.
        """
        from evaluator.cli import resolve_set
        from evaluator.items import ItemSetError

        if not record.set_name or not record.set_version:
            return current
        if (record.set_name, record.set_version) == (current.name, current.version):
            return current
        try:
            return resolve_set(f"{record.set_name}@{record.set_version}", self.data)
        except ItemSetError:
            log.warning(
                "request %s targets %s@%s, which is not here; running it on %s@%s",
                record.id, record.set_name, record.set_version, current.name, current.version,
            )  # fmt: skip
            return current

    def tick(self) -> str:
        """Do at most one request. Returns what happened, for logs and `--once`."""
        # Busy before looking at `stopping`: shutdown() sets `stopping` and then waits for
        # `idle`, so either this tick sees the flag or shutdown waits for this tick.
        self.idle.clear()
        try:
            if self.stopping.is_set():
                return "stopping"
            # A set that cannot be loaded is this machine's problem, not the next request's:
            # find out before claiming anything.
            item_set = self.load_set()
            for item in self.queue.reclaim_expired():
                log.warning("request %s: its worker stopped responding; now %s", item.request_id, item.status)
            if self.stopping.is_set():
                return "stopping"
            lease = self.queue.claim(self.config.name)
            if lease is None:
                return "idle"
            with self._state:
                self._lease, self._released = lease, False
            return self._process(lease, item_set)
        finally:
            with self._state:
                self._lease = None
            self.idle.set()

    def _process(self, lease: Lease, item_set: ItemSet) -> str:
        from evaluator.backends import BackendOptions
        from evaluator.pipeline import RunConfig

        lost = threading.Event()
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(lease, lost, done), name="heartbeat", daemon=True)
        beat.start()
        outcome: RunOutcome | None = None
        error: BaseException | None = None
        try:
            record = self.queue.get(lease.request_id)
            item_set = self.set_for(record, item_set)
            spec, options = backend_for(record, self.config)
            log.info(
                "request %s: %s on %s@%s (attempt %d)",
                lease.request_id,
                spec,
                item_set.name,
                item_set.version,
                lease.attempt,
            )
            config = RunConfig(
                model=spec,
                item_set=item_set,
                judges=self.config.judges,
                model_options=options,
                judge_options=BackendOptions(
                    base_url=self.config.judge_base_url,
                    api_key_env=self.config.judge_api_key_env,
                    concurrency=self.config.concurrency,
                    timeout_s=self.config.timeout_s,
                ),
                bootstrap_rounds=self.config.bootstrap_rounds,
            )
            outcome = self.evaluate(config, self.data, lambda: self.stopping.is_set() or lost.is_set())
        except Exception as exc:  # the request fails with a reason; the worker carries on
            log.exception("request %s: evaluation raised", lease.request_id)
            error = exc
        finally:
            done.set()
            beat.join()
        return self._settle(lease, lost, outcome, error, item_set)

    def _evaluate_with_progress(self, config: RunConfig, data: DataDir, should_stop: Callable[[], bool]) -> RunOutcome:
        from evaluator.pipeline import run_evaluation

        def report(stage: str, done: int, total: int) -> None:
            self.progress = f"{stage} {done}/{total}"

        self.progress = None
        return run_evaluation(config, data, progress=False, should_stop=should_stop, on_progress=report)

    def _heartbeat(self, lease: Lease, lost: threading.Event, done: threading.Event) -> None:
        from submissions.errors import LeaseLost

        while not done.wait(self.heartbeat_s):
            try:
                lease = self.queue.heartbeat(lease, progress=self.progress)
            except LeaseLost:
                log.warning("request %s: lease lost (cancelled or taken over); stopping", lease.request_id)
                lost.set()
                return
            except OSError:  # a passing storage hiccup; the lease has slack for the next beat
                log.exception("request %s: heartbeat failed", lease.request_id)

    def _settle(
        self,
        lease: Lease,
        lost: threading.Event,
        outcome: RunOutcome | None,
        error: BaseException | None,
        item_set: ItemSet,
    ) -> str:
        from evaluator.backends import SpecError
        from submissions.errors import LeaseLost

        rid = lease.request_id
        with self._state:
            if self._released:
                return "released"
            try:
                if lost.is_set():
                    return "lost"
                if error is not None:
                    # A malformed spec will not improve with another attempt; anything else might.
                    retry = not isinstance(error, SpecError)
                    record = self.queue.fail(lease, _public_reason(error), type(error).__name__, retry=retry)
                elif outcome is None:
                    raise RuntimeError("no outcome and no error")
                elif outcome.status == "complete":
                    record = self.queue.finish(
                        lease, outcome.run_id, set_name=item_set.name, set_version=item_set.version
                    )
                elif outcome.status == "stopped" and self.stopping.is_set():
                    record = self.queue.release(lease, "the worker was shut down; returned to the queue")
                else:
                    reason = (outcome.reason or f"the run ended {outcome.status}").split("; run the same command")[0]
                    record = self.queue.fail(lease, f"the run was incomplete: {reason}", "IncompleteRun", retry=True)
            except LeaseLost:
                return "lost"
        log.info("request %s: %s%s", rid, record.status, f" ({record.reason})" if record.reason else "")
        return str(record.status).lower()

    def shutdown(self, grace_s: float = DEFAULT_GRACE_S) -> bool:
        """Stop taking requests; True if the current run (if any) wound down within `grace_s`.

        Otherwise the lease is given back here, and the caller should exit without waiting
        for the run's threads: what the run finished is on disk, and the next worker resumes it.
        """
        from submissions.errors import LeaseLost

        self.stopping.set()
        if self.idle.wait(grace_s):
            return True
        with self._state:
            self._released = True
            lease = self._lease
            if lease is not None:
                try:
                    self.queue.release(lease, "the worker was shut down; returned to the queue")
                    log.info("request %s: lease released at shutdown", lease.request_id)
                except LeaseLost:
                    pass
        return False


def job(worker: Worker) -> str:
    """The scheduled job (module level, so a scheduler can refer to it as evaluator.worker:job)."""
    try:
        return worker.tick()
    except Exception:
        log.exception("worker tick failed")
        return "error"


def start_scheduler(worker: Worker, interval_s: float = DEFAULT_INTERVAL_S) -> BackgroundScheduler:
    """Run `job(worker)` every `interval_s` in a background thread; the first run starts now.

    Also what the Space calls to embed a worker in its own process.
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        job,
        "interval",
        seconds=interval_s,
        args=[worker],
        id=JOB_ID,
        max_instances=1,  # an evaluation outlasting the interval is not started twice
        coalesce=True,  # ticks missed meanwhile collapse into one
        next_run_time=datetime.now(UTC),
        misfire_grace_time=None,
    )
    # A long run makes every tick in between "skipped: maximum number of running instances";
    # expected here, so not worth a warning each interval.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    scheduler.start()
    return scheduler


def serve(worker: Worker, *, interval_s: float, once: bool, grace_s: float) -> tuple[str, bool]:
    """Run until done (`once`) or signalled. Returns (last result, whether shutdown was clean)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if once:
            results: list[str] = []
            thread = threading.Thread(target=lambda: results.append(job(worker)), name="worker-once", daemon=True)
            thread.start()
            while thread.is_alive() and not stop.is_set():
                thread.join(0.1)
            if not thread.is_alive():
                return (results[0] if results else "error"), True
        else:
            scheduler = start_scheduler(worker, interval_s)
            while not stop.wait(0.5):
                pass
            scheduler.shutdown(wait=False)
        return "stopped", worker.shutdown(grace_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ------------------------------------------------------------------------------------ CLI


def cmd_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.interval <= 0 or args.grace < 0:
        raise ValueError("--interval must be positive and --grace not negative")
    config = WorkerConfig.from_env(
        data=args.data,
        item_set=args.set,
        judges=tuple(args.judge) if args.judge else None,
        judge_base_url=args.judge_base_url,
        judge_api_key_env=args.judge_api_key_env,
        open_weight_backend=args.backend,
        name=args.name,
        lease_s=args.lease,
        bootstrap_rounds=args.bootstrap_rounds,
        concurrency=args.concurrency,
    )
    worker = Worker(config)
    worker.load_set()  # a bad --set is reported now, as bad input, before any request is touched
    result, clean = serve(worker, interval_s=args.interval, once=args.once, grace_s=args.grace)
    print(f"worker {config.name}: {result}", flush=True)
    if not clean:
        # The abandoned run's threads (HTTP pools, model engines) would hold the interpreter
        # open; its lease is already released and its finished items are on disk.
        sys.stderr.flush()
        os._exit(0)
    return 0


def register_cli(verbs: Any) -> None:
    """Adds `worker` to `python -m evaluator` (called by evaluator.cli)."""
    p = verbs.add_parser(
        "worker",
        help="evaluate queued requests on a schedule",
        description="Claim queued requests and evaluate them: every --interval seconds, one request at a time. "
        "SIGTERM releases the current request's lease; finished items are kept and the next worker resumes.",
    )
    p.add_argument("--data", default=DEFAULT_DATA_DIR, help="data directory (default: ./var, as the Space uses)")
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S, help="seconds between ticks (default 30)")
    p.add_argument("--once", action="store_true", help="process at most one request, then exit")
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
    p.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, help="seconds a run gets to stop on SIGTERM")
    p.add_argument("--bootstrap-rounds", type=int, help="bootstrap rounds for intervals (default 1000)")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_worker)
