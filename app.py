"""The Space entry point: `python app.py` (what `make run` and a Hugging Face Space run).

The embedded default: the data directory in CRISIS_DATA (default ./var), an in-process
scheduled worker (the same `evaluator.worker` a GPU box runs, every CRISIS_WORKER_INTERVAL
seconds, default 30), the public sample set, and the two reference baselines evaluated.
On a data directory with no results the baselines are queued like any request and the
worker evaluates them before the page opens (a few seconds, offline, heuristic judge), so a
fresh clone shows a working page; CRISIS_SEED_BASELINES=0 turns that off and
CRISIS_EMBEDDED_WORKER=0 leaves evaluation to separate workers. CRISIS_STORE=hub:ORG/PREFIX
keeps everything in the Hub store instead (read through a local mirror; evaluator.storage).
The demo board (scripted
reference models, evaluator.backends.demo) is evaluated the same way at start-up, straight
through the pipeline and the offline judge, on a board of its own; CRISIS_DEMO=0 turns it
off (a deployment should: its own results need no demo). Serves on
GRADIO_SERVER_NAME and GRADIO_SERVER_PORT (default 127.0.0.1:7860).
"""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING

# Before gradio is imported (by space.app below): it reads this once, at import.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from evaluator.storage import DataDir, Store, StoreError, as_store, data_of, open_store, resolve_spec
from space.app import SignInRefused, build_app, launch, sign_in_enabled

if TYPE_CHECKING:
    from evaluator.worker import Worker

BASELINES = ("baseline:refusal", "baseline:template")
SYSTEM_USER = "leaderboard"
log = logging.getLogger("app")


def _enabled(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no")


def has_results(data: DataDir) -> bool:
    return data.results.is_dir() and any(p.suffix == ".parquet" for p in data.results.iterdir())


def make_worker(store: Store) -> Worker:
    # Imported here: the worker pulls in the engine, which the page alone does not need.
    from evaluator.worker import Worker, WorkerConfig

    config = WorkerConfig.from_env(data=str(store.data.root), name=os.environ.get("CRISIS_WORKER_NAME") or None)
    return Worker(config, store=store)


def seed_baselines(store: Store | DataDir, worker: Worker | None = None) -> None:
    """Queue the reference rows on the public sample set and evaluate them now, when
    nothing is there yet (a plain DataDir: a local home)."""
    data = data_of(store)
    if has_results(data) or not _enabled("CRISIS_SEED_BASELINES"):
        return
    from submissions import Queue, Settings, SubmissionError, current_set, enqueue

    queue = Queue.local(store, Settings.from_env())
    target = current_set(data)
    for spec in BASELINES:
        try:
            enqueue(queue, spec=spec, submitter=SYSTEM_USER, target=target, maintainer=True)
        except SubmissionError as exc:  # already queued or finished: nothing to add
            log.info("%s not queued: %s", spec, exc)
    runner = worker or make_worker(as_store(store))
    for _ in BASELINES:
        outcome = runner.tick()
        log.warning("seeding the baselines: %s", outcome)
        if outcome in ("idle", "stopping"):
            break


def demo_enabled() -> bool:
    return _enabled("CRISIS_DEMO")


def seed_demo(data: DataDir) -> int:
    """Evaluate the scripted demo models on the public sample set with the offline judge.

    Not through the queue: they are not requests, and the queue tab shows only real ones.
    A run whose results exist is found by its run id and costs nothing; returns the number
    of demo models with results."""
    if not demo_enabled():
        return 0
    from evaluator.backends.demo import DEMO_SPECS
    from evaluator.catalog import resolve_set
    from evaluator.conversation import ConversationConfig, resolve_personas, run_conversations
    from evaluator.pipeline import RunConfig, run_evaluation

    item_set = resolve_set("public-sample", data)
    personas = resolve_personas("public-personas", data)
    done = 0
    for spec in DEMO_SPECS:
        outcome = run_evaluation(RunConfig(model=spec, item_set=item_set), data, progress=False)
        if outcome.complete:
            done += 1
        else:
            log.warning("demo model %s: %s", spec, outcome.reason)
        # The conversation board: the same models with the public personas and the offline simulator.
        talk = run_conversations(ConversationConfig(model=spec, personas=personas), data, progress=False)
        if not talk.complete:
            log.warning("demo model %s in conversations: %s", spec, talk.reason)
    return done


def _quiet_exit(signum: int, frame: object) -> None:
    # SIGTERM (a service manager, `kill`, Ctrl-C in make's process group) is a normal stop:
    # unwind through the finally blocks below and exit 0, with no traceback.
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _quiet_exit)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    try:  # before anything is seeded: a page that would mock the sign-in never starts
        sign_in_enabled()
    except SignInRefused as exc:
        raise SystemExit(f"error: {exc}") from None
    try:  # CRISIS_STORE (local:DIR | hub:ORG/PREFIX), else CRISIS_DATA; a Hub store out of reach serves its mirror
        home = open_store(resolve_spec(None, None), writable=False)
    except StoreError as exc:
        raise SystemExit(f"error: {exc}") from None
    data = home.data
    wanted = not home.read_only and (_enabled("CRISIS_EMBEDDED_WORKER") or _enabled("CRISIS_SEED_BASELINES"))
    worker = make_worker(home) if wanted else None
    try:
        seed_baselines(home, worker)
    except Exception:  # the page must come up even if the seed cannot be made
        log.exception("could not evaluate the baselines on the public sample set")
    try:
        seed_demo(data)
    except Exception:  # the demo is an illustration: the page comes up without it
        log.exception("could not evaluate the demo board")
    scheduler = None
    if worker is not None and _enabled("CRISIS_EMBEDDED_WORKER"):
        from evaluator.worker import start_scheduler

        scheduler = start_scheduler(worker, float(os.environ.get("CRISIS_WORKER_INTERVAL", "30")))
    try:
        launch(build_app(home, demo=demo_enabled()))
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if worker is not None:
            worker.shutdown()


if __name__ == "__main__":
    main()
