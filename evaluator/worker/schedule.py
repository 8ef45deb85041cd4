"""When a worker works: a scheduled job every interval, once, or until the queue is idle; signals stop it."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from evaluator.worker.config import DEFAULT_INTERVAL_S, JOB_ID, MAX_IDLE_ERRORS
from evaluator.worker.core import Worker

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("evaluator.worker")


def job(worker: Worker) -> str:
    """The scheduled job (module level, so a scheduler can refer to it as evaluator.worker.schedule:job)."""
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


def _until_idle(worker: Worker, interval_s: float, stop: threading.Event) -> str:
    """Requests one after another until a tick finds nothing to take (or errors keep coming)."""
    errors = 0
    while not stop.is_set():
        result = job(worker)
        if result in ("idle", "stopping"):
            return result
        errors = errors + 1 if result == "error" else 0
        if errors >= MAX_IDLE_ERRORS:
            return "error"
        if errors:
            stop.wait(interval_s)
    return "stopping"


def serve(
    worker: Worker, *, interval_s: float, once: bool, grace_s: float, until_idle: bool = False
) -> tuple[str, bool]:
    """Run until done (`once`, `until_idle`) or signalled. Returns (last result, whether shutdown was clean)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if once or until_idle:
            results: list[str] = []

            def work() -> None:
                results.append(_until_idle(worker, interval_s, stop) if until_idle else job(worker))

            thread = threading.Thread(target=work, name="worker-once", daemon=True)
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
