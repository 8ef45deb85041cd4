"""One worker: claim a request, evaluate it while a heartbeat keeps its lease, settle it.

See the package's docstring (evaluator.worker) for the whole life of a request.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from evaluator.audit import AUDIT_REFUSED, AUDIT_REFUSED_PUBLIC, record_refusal
from evaluator.backends import BackendError, BackendOptions, SpecError
from evaluator.catalog import resolve_set
from evaluator.conversation import ConversationConfig, resolve_personas
from evaluator.executors import Executor, make_executor, run_sink
from evaluator.items import ItemSetError
from evaluator.pipeline import RunConfig, RunError, RunOutcome
from evaluator.storage import DataDir, RunSink, Store, StoreUnavailable, open_store, read_jsonl, resolve_spec
from evaluator.worker.config import (
    DEFAULT_GRACE_S,
    SETTLE_RETRY_S,
    UNREADABLE_CHECK_S,
    WorkerConfig,
    api_key_env_for,
    backend_for,
)
from submissions.config import Settings
from submissions.errors import LeaseLost
from submissions.queue import Queue

if TYPE_CHECKING:
    from evaluator.items import ItemSet
    from submissions.queue import Lease
    from submissions.records import RequestRecord

log = logging.getLogger("evaluator.worker")

Evaluate = Callable[[RunConfig, DataDir, Callable[[], bool]], RunOutcome]


def _public_reason(exc: BaseException) -> str:
    """A failure reason for the public record: our own one-line messages, never a stray exception's text.

    Backend, spec, set and run errors are written to be shown (and never quote items); any
    other exception is a bug whose message could hold anything, so only its class is named.
    """
    if isinstance(exc, BackendError | SpecError | ItemSetError | RunError) and str(exc):
        return str(exc).splitlines()[0]
    return f"the evaluation stopped on an internal error ({type(exc).__name__}); a maintainer has to look at it"


class Worker:
    """One worker: `tick()` is one scheduled run; `shutdown()` is the SIGTERM path."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        evaluate: Evaluate | None = None,
        queue: Queue | None = None,
        store: Store | None = None,
        executor: Executor | None = None,
    ) -> None:
        settings = Settings.from_env()
        self.config = config
        self.store = store or open_store(resolve_spec(config.store, None if config.store else config.data))
        self.data = self.store.data
        self.queue = queue or Queue.local(self.store, settings)
        if queue is None and (config.lease_s or config.max_attempts):
            self.queue = Queue(
                self.queue.store,
                lease_s=config.lease_s or self.queue.lease.total_seconds(),
                max_attempts=config.max_attempts or settings.max_attempts,
            )
        lease_s = self.queue.lease.total_seconds()
        self.heartbeat_s = config.heartbeat_s or max(0.2, lease_s / 3)
        self.evaluate = evaluate or self._evaluate_with_progress
        self._executor = executor
        self.request: RequestRecord | None = None  # the request being evaluated, for the executor
        self.progress: str | None = None  # published in the request record at each heartbeat
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self._state = threading.Lock()  # orders the job's settle against shutdown's release
        self._lease: Lease | None = None
        self._released = False
        self._sink: RunSink | None = None  # what the run in progress writes through (evaluator.storage.sink)
        self._talk_sink: RunSink | None = None  # what its conversation run writes through
        self._talked_on: tuple[str, str] | None = None  # the persona set version it completed on
        self._unreadable_checked = -math.inf
        self._unreadable_seen: set[str] = set()

    def load_set(self) -> ItemSet:
        return resolve_set(self.config.item_set or os.environ.get("CRISIS_SET") or "public-sample", self.data)

    def set_for(self, record: RequestRecord, current: ItemSet) -> ItemSet:
        """The set version the request targets if this machine has it, else the current set.

        Requests name a version (a re-evaluation after a rotation names the new one); a
        request whose version is not here runs on the current set, and its record says so
        when it finishes.
        """
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
            lease = self.queue.claim(self.config.name, None if self.config.open_weight else _needs_no_gpu)
            if lease is None:
                self._report_unreadable()
                return "idle"
            with self._state:
                self._lease, self._released = lease, False
            return self._process(lease, item_set)
        finally:
            with self._state:
                self._lease = None
            self.idle.set()

    def _report_unreadable(self) -> None:
        """Log request records that cannot be read, once each: a claim skips them silently otherwise.

        Only when idle and at most every UNREADABLE_CHECK_S, since it lists every record.
        """
        now = time.monotonic()
        if now - self._unreadable_checked < UNREADABLE_CHECK_S:
            return
        self._unreadable_checked = now
        try:
            self.queue.records()
        except OSError:
            return
        for line in self.queue.unreadable():
            if line not in self._unreadable_seen:
                log.warning("request record skipped: %s", line)
        self._unreadable_seen = set(self.queue.unreadable())

    def _process(self, lease: Lease, item_set: ItemSet) -> str:
        lost = threading.Event()
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(lease, lost, done), name="heartbeat", daemon=True)
        beat.start()
        outcome: RunOutcome | None = None
        error: BaseException | None = None
        self._sink = self._talk_sink = None
        self._talked_on = None
        try:
            record = self.queue.get(lease.request_id)
            self.request = record
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
            if record.conversation_only:  # a re-evaluation after a persona set was rotated
                outcome = RunOutcome("complete", "", [])
            else:
                outcome = self.evaluate(config, self.data, lambda: self.stopping.is_set() or lost.is_set())
            if outcome.complete:  # a submission is evaluated on both tracks
                outcome = self._converse(config, outcome, lambda: self.stopping.is_set() or lost.is_set())
        except Exception as exc:  # the request fails with a reason; the worker carries on
            log.exception("request %s: evaluation raised", lease.request_id)
            error = exc
        finally:
            done.set()
            beat.join()
        if outcome is None or not outcome.complete:
            # What the runs finished goes where another machine can resume them.
            for sink in (self._sink, self._talk_sink):
                if sink is not None and sink.prefix is not None:
                    sink.save(outcome.status if outcome else "failed")
        return self._settle(lease, lost, outcome, error, item_set)

    def _converse(self, config: RunConfig, outcome: RunOutcome, should_stop: Callable[[], bool]) -> RunOutcome:
        """The conversation track with the same model, judges and options; the single-turn
        outcome unchanged when it completes, else the conversation run's status, reason, run id
        and error class in its place.
        An injected `evaluate` stands in for the single-turn track only: conversations then run
        only when a persona set is configured explicitly."""
        record = self.request
        only = record is not None and record.conversation_only
        chosen = self.config.personas or os.environ.get("CRISIS_PERSONAS")
        if only:  # the persona set version it was queued for; never another
            assert record is not None
            chosen = f"{record.persona_set}@{record.persona_version}"
        injected = self.evaluate != self._evaluate_with_progress
        if not only and (chosen == "none" or (chosen is None and injected)):
            return outcome
        personas = resolve_personas(chosen or "public-personas", self.data)
        talk_config = ConversationConfig(
            model=config.model,
            personas=personas,
            user_sim=self.config.user_sim or os.environ.get("CRISIS_USER_SIM") or "script",
            judges=config.judges,
            model_options=config.model_options,
            sim_options=config.judge_options,
            judge_options=config.judge_options,
        )
        self._talk_sink = self.run_sink()
        # Where the single-turn run went (this process, or a Ray task placed the same way).
        talk = self.executor.converse(
            talk_config, self._talk_sink, should_stop, on_progress=self._report, request=self.request
        )
        if talk.complete:
            self._talked_on = (personas.name, personas.version)
            # A conversation-only request is settled with the conversation run's id.
            return replace(outcome, run_id=talk.run_id, rows=talk.rows) if only else outcome
        # The conversation run's outcome, its class kept: a secrecy audit refusal (AUDIT_REFUSED)
        # is settled as a single-turn one is, its reason (private ids) in the private log only.
        reason = f"conversation track: {talk.reason}"
        return replace(
            outcome, status=talk.status, reason=reason, rows=[], run_id=talk.run_id, error_class=talk.error_class
        )

    def _report(self, stage: str, done: int, total: int) -> None:
        self.progress = f"{stage} {done}/{total}"

    def _evaluate_with_progress(self, config: RunConfig, data: DataDir, should_stop: Callable[[], bool]) -> RunOutcome:
        self.progress = None
        self._sink = self.run_sink()
        return self.executor.evaluate(config, self._sink, should_stop, on_progress=self._report, request=self.request)

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(
                self.config.executor, ray_address=self.config.ray_address, max_concurrent=self.config.max_concurrent
            )
        return self._executor

    def run_sink(self) -> RunSink:
        """A sink for one run in this process, over the worker's store, built as a Ray task
        builds its own (evaluator.executors.run_sink). Its stage commits are best effort: with
        the Hub away the run goes on locally, and the final publish (not optional) commits all."""
        return run_sink(self.store)

    def _publish(self) -> None:
        """Result rows (and the public examples and transcripts) committed before the request is
        FINISHED. A run that happened on a Ray node published from there: this process's
        sink opened no run and placed nothing, so it commits nothing."""
        for sink in (self._sink, self._talk_sink):
            if sink is not None:
                sink.publish()

    def _heartbeat(self, lease: Lease, lost: threading.Event, done: threading.Event) -> None:
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
                    record = self._recorded(
                        rid, lambda: self.queue.fail(lease, _public_reason(error), type(error).__name__, retry=retry)
                    )
                elif outcome is None:
                    raise RuntimeError("no outcome and no error")
                elif outcome.status == "complete":
                    try:
                        self._publish()
                    except StoreUnavailable as exc:
                        # Not FINISHED without its rows: the lease runs out and whoever claims
                        # it next resumes the finished run and publishes the same file.
                        log.error("request %s: results of run %s not published: %s", rid, outcome.run_id, exc)
                        return "unpublished"
                    run_id = outcome.run_id
                    # A conversation-only request ran no item set; both record their persona set.
                    single = self.request is None or not self.request.conversation_only
                    persona_set, persona_version = self._talked_on or (None, None)
                    record = self._recorded(
                        rid,
                        lambda: self.queue.finish(
                            lease,
                            run_id,
                            set_name=item_set.name if single else None,
                            set_version=item_set.version if single else None,
                            persona_set=persona_set,
                            persona_version=persona_version,
                        ),
                    )
                elif outcome.error_class == AUDIT_REFUSED:
                    # The reason names private item ids: it goes to the private log only. The
                    # same run would be refused the same way, so it is not retried.
                    self._record_refusal(rid, outcome)
                    record = self._recorded(
                        rid, lambda: self.queue.fail(lease, AUDIT_REFUSED_PUBLIC, AUDIT_REFUSED, retry=False)
                    )
                elif outcome.status == "unscored":
                    # The same judge would answer the same junk: FAILED with its error class,
                    # for a maintainer to retry once the judge is fixed.
                    reason = outcome.reason or "nothing was scored"
                    error_class = outcome.error_class or "Unscored"
                    record = self._recorded(rid, lambda: self.queue.fail(lease, reason, error_class, retry=False))
                elif outcome.status == "stopped" and self.stopping.is_set():
                    record = self._recorded(
                        rid, lambda: self.queue.release(lease, "the worker was shut down; returned to the queue")
                    )
                else:
                    reason = (outcome.reason or f"the run ended {outcome.status}").split("; run the same command")[0]
                    hint = self._no_key_hint(outcome)
                    if hint:
                        reason = f"{reason}; {hint}"
                    incomplete = f"the run was incomplete: {reason}"
                    record = self._recorded(
                        rid, lambda: self.queue.fail(lease, incomplete, "IncompleteRun", retry=True)
                    )
            except LeaseLost:
                return "lost"
        log.info("request %s: %s%s", rid, record.status, f" ({record.reason})" if record.reason else "")
        return str(record.status).lower()

    def _recorded(self, rid: str, settle: Callable[[], RequestRecord]) -> RequestRecord:
        """Commit how a request ended, retrying while the store does not take it (a 503 on a
        Hub commit), as every other commit of the run is retried: a request left RUNNING
        would wait for its lease to run out and have its finished run claimed again."""
        deadline = time.monotonic() + SETTLE_RETRY_S
        wait = 0.5
        while True:
            try:
                return settle()
            except StoreUnavailable as exc:
                if time.monotonic() + wait > deadline or self.stopping.is_set():
                    raise
                log.warning("request %s: its new state was not committed (%s); retrying in %.1f s", rid, exc, wait)
            if self.stopping.wait(wait):
                return settle()  # one last try on the way out
            wait = min(wait * 2, 15.0)

    def _no_key_hint(self, outcome: RunOutcome) -> str | None:
        """Our own line for an API model's host that asked for a key this machine has none for."""
        record = self.request
        if record is None or record.model_type != "api" or not record.base_url:
            return None
        if api_key_env_for(record.base_url, judge_key_env=self.config.judge_api_key_env):
            return None
        try:
            replies = read_jsonl(self.data.run_dir(outcome.run_id) / "replies.jsonl")
        except (OSError, ValueError):
            return None
        if not any("no API key is configured" in str((r.get("reply") or {}).get("error") or "") for r in replies):
            return None
        host = urlsplit(record.base_url).hostname
        return f"{host} asked for an API key, and no API key is configured for {host} (CRISIS_API_KEYS)"

    def _record_refusal(self, rid: str, outcome: RunOutcome) -> None:
        reason = outcome.reason or "secrecy audit refused to publish"
        try:
            record_refusal(self.store, rid, outcome.run_id, reason)
        except StoreUnavailable as exc:
            # Kept in this machine's logs/ (private); the request is failed all the same.
            log.error("request %s: audit refusal not committed to the private repo: %s", rid, exc)

    def shutdown(self, grace_s: float = DEFAULT_GRACE_S) -> bool:
        """Stop taking requests; True if the current run (if any) wound down within `grace_s`.

        Otherwise the lease is given back here, and the caller should exit without waiting
        for the run's threads: what the run finished is on disk, and the next worker resumes it.
        """
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


def _needs_no_gpu(record: RequestRecord) -> bool:
    return record.model_type != "open-weight"
