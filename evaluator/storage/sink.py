"""The run sink: every file of a run (single-turn or conversation) is written through its store.

A run writes in its store's directory (`store.data`) and nowhere else, through one RunSink:

- local home: the data directory itself. A file is home once it is written atomically (or
  appended and flushed); every commit below is a no-op.
- Hub home: the store's mirror. The sink commits the run's files through the store at the
  run's stage points: `open` pulls runs/<id>/ first (a run another machine began resumes
  here), `checkpoint` after generation and after judging commits the run directory and the
  cache, and, for a run on a node of its own (`checkpoint_s`), so does a timer between
  them, so a lost node costs at most that much work. These commits are best effort: with the
  Hub away the run goes on and the next one carries everything. `publish` is not: it commits
  the run, then the public files the publish stage placed (result rows, examples,
  transcripts), or raises StoreUnavailable, and the caller must then not call the request
  finished. Between stage points (every turn of a conversation) nothing is committed: the
  Hub limits commit rates. Before the publish stage's secrecy audit, `before_audit` pulls
  every set (sets/, and the retired items under public/retired/) once: the audit must know
  every private set, not only the run's own, and a Ray task's directory holds nothing else.

The worker's local executor and each Ray task build the same RunSink, each over the store it
writes through (a Ray task's is a fresh mirror on its node: `fresh`, so a failed pull raises
rather than redoing finished work and pushing it over what the store holds).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Final

from evaluator.storage.base import Store, StoreUnavailable
from evaluator.storage.home import LocalStore
from evaluator.storage.layout import DataDir, atomic_write_bytes, json_bytes

log = logging.getLogger("evaluator.storage.sink")

CACHE_FILE: Final = "cache.sqlite"  # the generation and judgement cache under <data>/cache/
# What the secrecy audit reads besides the files it scans: every private item and persona set,
# and the items published on purpose (retired sets, public/retired/), which it lets through.
AUDIT_AREAS: Final = ("sets/", "public/retired/")


class RunSink:
    """Where one run writes: its store's directory, committed to its store at stage points."""

    def __init__(self, store: Store, *, checkpoint_s: float | None = None, fresh: bool = False) -> None:
        """`checkpoint_s`: also commit the run directory this often while a stage goes (a run on
        a node of its own). `fresh`: the directory holds nothing of its own (a Ray task's), so a
        failed pull of the cache or the run raises instead of carrying on without them."""
        if checkpoint_s is not None and not checkpoint_s > 0:
            raise ValueError("checkpoint_s must be positive")
        self.store = store
        self.prefix: str | None = None  # runs/<id>/ of the run, once opened
        self._public: list[str] = []  # public files placed by the publish stage, committed by `publish`
        self._checkpoint_s = checkpoint_s
        self._fresh = fresh
        self._committing = threading.Lock()  # a checkpoint and a stage commit never run at once
        self._stop = threading.Event()
        self._checkpoints: threading.Thread | None = None
        self._audit_ready = False

    @classmethod
    def local(cls, root: Path) -> RunSink:
        """A sink over a plain data directory (its own local home)."""
        return cls(LocalStore(root))

    @property
    def data(self) -> DataDir:
        return self.store.data

    @property
    def root(self) -> Path:
        return self.store.data.root

    @property
    def run_dir(self) -> Path | None:
        return None if self.prefix is None else self.root / self.prefix

    # ------------------------------------------------------------------ the run's stage points

    def start_cache(self) -> None:
        """Before a run: a directory with no cache pulls the shared one."""
        if (self.data.cache / CACHE_FILE).exists():
            return
        try:
            self.store.pull("cache/")
        except StoreUnavailable as exc:
            if self._fresh:
                raise
            log.warning("cache not pulled: %s; carrying on without it", exc)

    def open(self, run_id: str) -> Path:
        """The run's directory, with what the store holds of it pulled first (resume)."""
        self.prefix = f"runs/{run_id}/"
        try:
            self.store.pull(self.prefix)
        except StoreUnavailable as exc:
            if self._fresh:
                self.prefix = None  # nothing of this run here to commit
                raise
            log.warning("run %s: not pulled: %s; carrying on, it is committed at the next stage", run_id, exc)
        self._start_checkpoints()
        return self.root / self.prefix

    def before_audit(self) -> None:
        """Before the publish stage's secrecy audit: what it reads, pulled once per run (a Ray
        task's directory holds only its run and the cache, and the audit must know every
        private set, not only the run's own). A fresh directory raises if the pull fails, so
        nothing is published unaudited; the worker's own mirror audits with what it holds."""
        if self._audit_ready:
            return
        try:
            for prefix in AUDIT_AREAS:
                self.store.pull(prefix)
        except StoreUnavailable as exc:
            if self._fresh:
                raise
            log.warning("private sets not pulled before the audit: %s; auditing with this mirror's copy", exc)
        self._audit_ready = True

    def checkpoint(self, stage: str) -> None:
        """A stage finished: commit the run directory and the cache, best effort."""
        try:
            self.commit_run(f"{stage} {self._run_name()}")
        except StoreUnavailable as exc:
            log.warning("run %s (%s): %s; carrying on, it is committed at the next stage", self._run_name(), stage, exc)

    def save(self, status: str) -> None:
        """An attempt ended unfinished: commit what it has, best effort (the next attempt resumes from it)."""
        self.close()
        try:
            self.commit_run(f"{status} {self._run_name()}")
        except StoreUnavailable as exc:
            log.warning("run %s not committed after it ended %s: %s", self._run_name(), status, exc)

    def publish(self) -> None:
        """The finished run, then the public files it placed: all of it, or StoreUnavailable."""
        self.close()
        if self.prefix is not None:
            self.commit_run(f"finished {self._run_name()}")
        if self._public:
            with self._committing:
                self.store.push(list(self._public), f"Results of run {self._run_name()}")

    def commit_run(self, message: str, *, cache: bool = True) -> None:
        """The run directory's files (and the cache); StoreUnavailable if the store cannot take them."""
        if self.prefix is None:
            return
        paths = self.store.list_files(self.prefix)
        with self._committing:
            self.store.push([*paths, f"cache/{CACHE_FILE}"] if cache else paths, message)

    # ------------------------------------------------------------------ writes

    def inside(self, path: Path) -> Path:
        """`path`, refused unless it is in this sink's store directory: a run writes nowhere else."""
        try:
            path.relative_to(self.root)
        except ValueError:
            raise ValueError(f"{path} is outside the run's store directory {self.root}") from None
        return path

    def write_bytes(self, path: Path, content: bytes) -> None:
        atomic_write_bytes(self.inside(path), content)

    def write_json(self, path: Path, value: Any) -> None:
        self.write_bytes(path, json_bytes(value))

    def place(self, staged: Path, target: Path) -> Path:
        """Rename an audited staged file to its public path in one step (readers see all or
        nothing); `publish` commits it."""
        self.inside(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.inside(staged), target)
        rel = target.relative_to(self.root).as_posix()
        if rel not in self._public:
            self._public.append(rel)
        return target

    # ------------------------------------------------------------------ checkpoints

    def _run_name(self) -> str:
        return Path(self.prefix or "").name

    def _start_checkpoints(self) -> None:
        if self._checkpoint_s is None or self._checkpoints is not None:
            return
        interval = self._checkpoint_s

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.commit_run(f"checkpoint {self._run_name()}", cache=False)
                except StoreUnavailable as exc:
                    log.warning("run checkpoint not committed: %s; the next one carries it", exc)
                except Exception:  # a checkpoint must never end the run it protects
                    log.exception("run checkpoint failed")

        self._checkpoints = threading.Thread(target=loop, name="run-checkpoints", daemon=True)
        self._checkpoints.start()

    def close(self) -> None:
        """Stop the checkpoints (a commit under way finishes first)."""
        self._stop.set()
        if self._checkpoints is not None and self._checkpoints is not threading.current_thread():
            self._checkpoints.join()
