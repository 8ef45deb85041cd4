"""Re-evaluation after a set version is cut: every model finished on the previous version is
queued again, at maintainer priority, for the new one (PROTOCOL.md section 3). After a persona
set version is cut, the same for the conversation track only (section 9).

`cut_and_requeue` is the whole maintainer action (what `sets freeze` and the Space's admin
panel do): evaluator.sets cuts the version, then the queue takes the models. The version is cut
either way; what could not be queued is reported, never raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evaluator.backends.spec import SpecError, parse_spec
from evaluator.sets import DEFAULT_MIN_PER_CATEGORY, DEFAULT_TOLERANCE, MAX_REASON_CHARS, CutResult, cut_version
from evaluator.storage import DataDir, Store, data_of
from evaluator.wording import one_line
from submissions.errors import SubmissionRejected
from submissions.intake import MAINTAINER_PRIORITY, enqueue_conversation
from submissions.intake import enqueue as intake_enqueue
from submissions.queue import Queue
from submissions.records import RequestRecord, Status, new_request_id
from submissions.store import LocalRequestStore
from submissions.target import SetRef
from submissions.validation import duplicate_reason


@dataclass(frozen=True)
class Reevaluation:
    """A model finished on the previous version, to be evaluated on the new one."""

    request_id: str  # the finished request on the previous version
    model: str
    model_type: str
    spec: str
    submitter: str
    set_name: str
    set_version: str  # the new version
    revision: str | None = None
    sha: str | None = None
    base_url: str | None = None


# Queues one re-evaluation at `priority`; returns the new request id, or None when the model
# is already queued or evaluated on the new version.
Enqueue = Callable[[Reevaluation, int], "str | None"]


@dataclass
class RequeueReport:
    queued: list[tuple[str, str]] = field(default_factory=list)  # (model, new request id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (model, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (model, error)


def _why(exc: Exception) -> str:
    return one_line(str(exc) or type(exc).__name__, MAX_REASON_CHARS)


def finished_on(data: DataDir, name: str, version: str, new_version: str) -> list[Reevaluation]:
    """One re-evaluation on `new_version` per model finished on NAME@version, oldest submission first."""
    latest: dict[str, RequestRecord] = {}
    for record in LocalRequestStore(data).all():
        if record.status != Status.FINISHED or record.set_name != name or record.set_version != version:
            continue
        kept = latest.get(record.identity)
        if kept is None or (record.finished_at or record.updated_at) > (kept.finished_at or kept.updated_at):
            latest[record.identity] = record
    ordered = sorted(latest.values(), key=lambda r: (r.submitted_at, r.id))
    return [
        Reevaluation(
            request_id=r.id,
            model=r.model,
            model_type=r.model_type,
            spec=r.spec,
            submitter=r.submitter,
            set_name=name,
            set_version=new_version,
            revision=r.revision,
            sha=r.sha,
            base_url=r.base_url,
        )
        for r in ordered
    ]


def submissions_enqueue(store: Store | DataDir) -> Enqueue:
    """The queue of `submissions`, as an Enqueue.

    Baselines and API models go through `submissions.intake.enqueue` (as a maintainer).
    Open-weight models have no maintainer enqueue there (`submit` re-validates against the Hub,
    which a re-evaluation of an already pinned commit does not need), so their finished record
    is copied into a fresh PENDING one through the store, under the same intake lock and
    duplicate check as `submissions.intake` uses.
    """
    queue = Queue.local(store)

    def enqueue(job: Reevaluation, priority: int) -> str | None:
        target = SetRef(job.set_name, job.set_version)
        note = f"re-evaluation on {target} after the set was rotated"
        if job.model_type in ("baseline", "api"):
            try:
                record = intake_enqueue(
                    queue,
                    spec=job.spec,
                    submitter=job.submitter,
                    target=target,
                    maintainer=True,
                    base_url=job.base_url,
                    priority=priority,
                )
            except SubmissionRejected as exc:
                if exc.check == "duplicate":
                    return None
                raise
            return record.id
        old = queue.store.get(job.request_id)
        now = queue.clock()
        # The model's own fields (spec, pinned sha, submitter, ...) carry over; everything the
        # previous run set on the record starts again. Copied rather than rebuilt field by field
        # so that a field added to RequestRecord later is carried over too.
        reset: dict[str, Any] = {
            "id": new_request_id(now),
            "priority": priority,
            "set_name": target.name,
            "set_version": target.version,
            "reason": None,
            "error_class": None,
            "submitted_at": now,
            "started_at": None,
            "finished_at": None,
            "attempts": 0,
            "worker": None,
            "lease_expires_at": None,
            "run_id": None,
            "history": (),
            # Both tracks run again; the conversation track records its persona set when done.
            "persona_set": None,
            "persona_version": None,
            "only_track": None,
        }
        fresh = old.model_copy(update=reset).moved(Status.PENDING, now, note=note)
        with queue.store.intake_lock():
            if duplicate_reason(queue.store.all(), fresh.identity, target, shown=job.model):
                return None
            queue.store.create(fresh)
        return fresh.id

    return enqueue


def requeue_after_cut(
    store: Store | DataDir,
    name: str,
    previous: str,
    version: str,
    *,
    enqueue: Enqueue | None = None,
    priority: int | None = None,
) -> RequeueReport:
    """Queue every model finished on NAME@previous for NAME@version, at maintainer priority."""
    if priority is None:
        priority = MAINTAINER_PRIORITY
    jobs = finished_on(data_of(store), name, previous, version)
    report = RequeueReport()
    if not jobs:
        return report
    run = enqueue or submissions_enqueue(store)
    for job in jobs:
        try:
            new_id = run(job, priority)
        except Exception as exc:  # one model's refusal must not stop the others being queued
            report.failed.append((job.model, _why(exc)))
            continue
        if new_id is None:
            report.skipped.append((job.model, f"already queued or evaluated on {name}@{version}"))
        else:
            report.queued.append((job.model, new_id))
    return report


def cut_and_requeue(
    store: Store | DataDir,
    name: str,
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    tolerance: float | None = DEFAULT_TOLERANCE,
    who: str | None = None,
    enqueue: Enqueue | None = None,
) -> CutResult:
    """Cut NAME's draft as the next version (`evaluator.sets.cut_version`), then queue every
    model finished on the previous version for it (through `enqueue`, the queue by default).

    The version is cut either way: a queue that cannot be reached is reported in
    `CutResult.requeue.failed`, never raised.
    """
    data, home = data_of(store), None if isinstance(store, DataDir) else store
    result = cut_version(data, name, min_per_category=min_per_category, tolerance=tolerance, who=who, store=home)
    if result.previous is None:
        return result
    try:
        report = requeue_after_cut(store, name, result.previous, result.version, enqueue=enqueue)
    except Exception as exc:  # the version is cut either way; say what was not queued
        report = RequeueReport(failed=[("every model", _why(exc))])
    return dataclasses.replace(result, requeue=report)


# ---------------------------------------------------------------- persona sets (PROTOCOL section 9)


def _spec_key(model_type: object, spec: object) -> tuple[str, str, str | None] | None:
    """What a request's spec and a result row's `model_spec` share whichever backend ran it
    (an open-weight model may run as hf: or vllm:): type, target and pinned revision."""
    try:
        parsed = parse_spec(str(spec))
    except SpecError:
        return None
    return str(model_type), parsed.target.lower(), parsed.revision


def _conversed_on(data: DataDir, name: str, version: str) -> set[tuple[str, str, str | None]]:
    """The models with conversation result rows on persona set NAME@version (`_spec_key`)."""
    import pyarrow.parquet as pq

    columns = ["track", "set_name", "set_version", "model_type", "model_spec"]
    found: set[tuple[str, str, str | None]] = set()
    for path in sorted(data.results.glob("*.parquet")):
        try:
            rows = pq.read_table(path, columns=columns).to_pylist()
        except Exception:  # a file unreadable or without these columns shows no conversations
            continue
        for row in rows:
            if row["track"] == "conversation" and (row["set_name"], str(row["set_version"])) == (name, version):
                key = _spec_key(row["model_type"], row["model_spec"])
                if key is not None:
                    found.add(key)
    return found


def conversations_finished_on(data: DataDir, name: str, version: str) -> list[RequestRecord]:
    """The latest finished request per model whose conversation track ran on persona set
    NAME@version, oldest submission first.

    A request records where its conversations ran when it finishes; for a record from before
    that (no `persona_set`), the conversation result rows on NAME@version say it, matched by
    model type, spec target and pinned revision (two API models of one name at different
    base URLs cannot be told apart there: both are counted)."""
    latest: dict[str, RequestRecord] = {}
    conversed: set[tuple[str, str, str | None]] | None = None
    for record in LocalRequestStore(data).all():
        if record.status != Status.FINISHED:
            continue
        if record.persona_set is None and not record.conversation_only:
            if conversed is None:
                conversed = _conversed_on(data, name, version)
            if _spec_key(record.model_type, record.spec) not in conversed:
                continue
        elif (record.persona_set, record.persona_version) != (name, version):
            continue
        kept = latest.get(record.identity)
        if kept is None or (record.finished_at or record.updated_at) > (kept.finished_at or kept.updated_at):
            latest[record.identity] = record
    return sorted(latest.values(), key=lambda r: (r.submitted_at, r.id))


def requeue_conversations(
    store: Store | DataDir, name: str, previous: str, version: str, *, priority: int | None = None
) -> RequeueReport:
    """Queue every model whose conversations ran on persona set NAME@previous for a
    conversation-only re-evaluation on NAME@version, at maintainer priority, through the
    queue's intake (`submissions.intake.enqueue_conversation`). Never raises for one model."""
    queue = Queue.local(store)
    target = SetRef(name, version)
    report = RequeueReport()
    for finished in conversations_finished_on(data_of(store), name, previous):
        try:
            record = enqueue_conversation(
                queue, finished, target, priority=MAINTAINER_PRIORITY if priority is None else priority
            )
        except SubmissionRejected as exc:
            if exc.check == "duplicate":
                report.skipped.append((finished.model, f"already queued or evaluated on {target}"))
            else:
                report.failed.append((finished.model, _why(exc)))
            continue
        except Exception as exc:  # one model's refusal must not stop the others being queued
            report.failed.append((finished.model, _why(exc)))
            continue
        report.queued.append((finished.model, record.id))
    return report


def requeue_after_persona_cut(store: Store | DataDir, name: str, previous: str | None, version: str) -> RequeueReport:
    """After persona set NAME was cut as `version` (`personas freeze`, `personas retire`):
    `requeue_conversations` from `previous`; the version is cut either way, so what could not
    be queued is reported, never raised."""
    if previous is None or previous == version:
        return RequeueReport()
    try:
        return requeue_conversations(store, name, previous, version)
    except Exception as exc:
        return RequeueReport(failed=[("every model", _why(exc))])


__all__ = [
    "Enqueue",
    "Reevaluation",
    "RequeueReport",
    "conversations_finished_on",
    "cut_and_requeue",
    "finished_on",
    "requeue_after_cut",
    "requeue_after_persona_cut",
    "requeue_conversations",
    "submissions_enqueue",
]
