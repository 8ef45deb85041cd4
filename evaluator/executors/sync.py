"""A run's files between the directory it runs in and its store: what is pulled and pushed, and when.

Before a run, the shared cache (when the directory has none). At "start", the run's own
directory, runs/<id>/, so that an attempt on a machine that never saw the run resumes from
its finished items. At the end of each stage, the run directory and the cache; for a run on
a node of its own, also the run directory every `checkpoint_s` while a stage goes, so a node
lost mid-stage costs at most that much work. Last, the result rows, before the request is
marked FINISHED. On a `local:` store every pull and push is a no-op: the files are already home.

The worker (with `--executor local`) and each Ray task use this one class, each for the
directory it writes in. Pushes during a run are best effort: with the Hub away the run goes
on and the next push carries everything. The final `publish` is not: StoreUnavailable
reaches the caller, which must then not call the request finished.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from evaluator.storage import StoreUnavailable

if TYPE_CHECKING:
    from evaluator.pipeline import OnStage, RunOutcome
    from evaluator.storage import DataDir, Store

log = logging.getLogger("evaluator.executors.sync")

CACHE_FILE: Final = "cache.sqlite"  # evaluator.pipeline's cache under <data>/cache/


def start_from_shared_cache(data: DataDir, on_stage: OnStage | None) -> None:
    """Before a run in `data`: a directory with no cache pulls the shared one (stage "cache")."""
    if on_stage is not None and not (data.cache / CACHE_FILE).exists():
        on_stage("cache", data.cache)


class RunSync:
    def __init__(self, store: Store, *, checkpoint_s: float | None = None, fresh: bool = False) -> None:
        """`fresh`: the directory holds nothing of its own (a Ray task's), so a failed pull of the
        cache or the run raises rather than going on without them: the run would redo every
        finished item and then push its own few over what the store has."""
        if checkpoint_s is not None and not checkpoint_s > 0:
            raise ValueError("checkpoint_s must be positive")
        self.store = store
        self.prefix: str | None = None  # runs/<id>/ of the run in progress, once it has started
        self._checkpoint_s = checkpoint_s
        self._fresh = fresh
        self._pushing = threading.Lock()  # a checkpoint and a stage push never commit at once
        self._stop = threading.Event()
        self._checkpoints: threading.Thread | None = None

    @property
    def root(self) -> Path:
        return self.store.data.root

    def on_stage(self, stage: str, run_dir: Path) -> None:
        """The pipeline's `on_stage`: pull a run to resume before it starts; push what each stage finished."""
        try:
            if stage == "cache":
                self.store.pull("cache/")
            elif stage == "start":
                self.prefix = f"runs/{run_dir.name}/"
                self.store.pull(self.prefix)
                self._start_checkpoints()
            else:
                self.push_run(f"{stage} {run_dir.name}")
        except StoreUnavailable as exc:
            if self._fresh and stage in ("cache", "start"):
                self.prefix = None  # nothing of this run here to push
                raise
            log.warning("run %s (%s): %s; carrying on, it is pushed at the next stage", run_dir.name, stage, exc)

    def push_run(self, message: str, *, cache: bool = True) -> None:
        """The run directory's files (and the cache); StoreUnavailable if the store cannot take them."""
        if self.prefix is None:
            return
        base = self.root / self.prefix
        paths = [p.relative_to(self.root).as_posix() for p in sorted(base.rglob("*")) if p.is_file()]
        with self._pushing:
            self.store.push([*paths, f"cache/{CACHE_FILE}"] if cache else paths, message)

    def publish(self, outcome: RunOutcome) -> None:
        """The finished run, then its result rows and public examples: all of it, or StoreUnavailable.

        Files that are not in this directory (a run that happened on another node and
        published there) are skipped by the store.
        """
        self.close()
        self.push_run(f"finished {outcome.run_id}")
        public = [f"results/{outcome.run_id}.parquet", f"public/examples/{outcome.run_id}.jsonl"]
        with self._pushing:
            self.store.push(public, f"Results of run {outcome.run_id}")

    def _start_checkpoints(self) -> None:
        if self._checkpoint_s is None or self._checkpoints is not None:
            return
        interval = self._checkpoint_s

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.push_run(f"checkpoint {Path(self.prefix or '').name}", cache=False)
                except StoreUnavailable as exc:
                    log.warning("run checkpoint not pushed: %s; the next one carries it", exc)
                except Exception:  # a checkpoint must never end the run it protects
                    log.exception("run checkpoint failed")

        self._checkpoints = threading.Thread(target=loop, name="run-checkpoints", daemon=True)
        self._checkpoints.start()

    def close(self) -> None:
        """Stop the checkpoints (a push under way finishes first)."""
        self._stop.set()
        if self._checkpoints is not None and self._checkpoints is not threading.current_thread():
            self._checkpoints.join()
