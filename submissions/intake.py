"""New requests: public submissions, API model requests, and maintainers' enqueues.

Validation runs first and writes nothing. Only then is the store's intake lock taken and
the duplicate and rate-limit checks repeated under it, so two submissions racing for the
same model (or a user's last free slot) cannot both get in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from evaluator.backends.baseline import BASELINES
from evaluator.backends.spec import SpecError, parse_spec
from submissions.errors import NotAllowed, SubmissionRejected
from submissions.queue import Queue
from submissions.ratelimit import RateLimit
from submissions.records import MAX_PRIORITY, RequestRecord, Status, new_request_id
from submissions.target import SetRef
from submissions.validation import (
    Validator,
    ValidSubmission,
    api_model_problem,
    base_url_problem,
    conversation_duplicate_reason,
    duplicate_reason,
    submitter_problem,
)

MAINTAINER_PRIORITY: Final = 10


def _create_checked(
    queue: Queue,
    record: RequestRecord,
    *,
    rate_limit: RateLimit | None,
    maintainer: bool,
    shown: str,
    target: SetRef,
    personas: SetRef | None = None,
) -> RequestRecord:
    def check(records: list[RequestRecord]) -> None:
        if personas is not None:  # a conversation-only re-evaluation is per persona set version
            duplicate = conversation_duplicate_reason(records, record.identity, personas, shown=shown)
        else:
            duplicate = duplicate_reason(records, record.identity, target, shown=shown)
        if duplicate:
            raise SubmissionRejected(duplicate, "duplicate")
        if rate_limit is not None:
            refusal = rate_limit.refusal(records, record.submitter, record.submitted_at, maintainer=maintainer)
            if refusal:
                raise SubmissionRejected(refusal, "rate_limit")

    with queue.store.intake_lock():
        # The store runs the checks on the state it adds the record to, and again after a
        # lost race (a Hub commit refused for a stale parent), so they cannot be raced.
        queue.store.create(record, check=check)
    return record


def submit(
    queue: Queue,
    validator: Validator,
    *,
    model: str,
    revision: str | None = None,
    precision: str = "auto",
    chat: bool = True,
    submitter: str | None,
    maintainer: bool = False,
) -> RequestRecord:
    """Validate an open-weight model and queue it; SubmissionRejected (nothing written) otherwise."""
    valid = validator.validate(
        model=model,
        revision=revision,
        precision=precision,
        chat=chat,
        submitter=submitter,
        maintainer=maintainer,
        existing=queue.store.all,
    )
    record = record_for(valid, queue.clock())
    return _create_checked(
        queue,
        record,
        rate_limit=validator.rate_limit,
        maintainer=maintainer,
        shown=f"{valid.model}@{valid.sha[:7]}",
        target=valid.target,
    )


def record_for(valid: ValidSubmission, now: datetime) -> RequestRecord:
    return RequestRecord(
        id=new_request_id(now),
        model=valid.model,
        model_type="open-weight",
        spec=valid.spec,
        revision=valid.revision,
        sha=valid.sha,
        precision=valid.precision,
        chat=valid.chat,
        params=valid.params,
        license=valid.license,
        submitter=valid.submitter,
        priority=MAINTAINER_PRIORITY if valid.maintainer else 0,
        set_name=valid.target.name,
        set_version=valid.target.version,
        status=Status.PENDING,
        submitted_at=now,
        updated_at=now,
    ).moved(Status.PENDING, now, note="submitted")


def request_api_model(
    queue: Queue,
    *,
    model: str,
    base_url: str,
    submitter: str | None,
    target: SetRef,
    rate_limit: RateLimit,
    maintainer: bool = False,
) -> RequestRecord:
    """Anyone may ask for an API model; it waits in PENDING_APPROVAL until a maintainer approves it."""
    _check_api(model, base_url, submitter)
    assert submitter is not None
    record = _api_record(model, base_url, submitter, target, queue.clock, Status.PENDING_APPROVAL, 0, "requested")
    return _create_checked(
        queue, record, rate_limit=rate_limit, maintainer=maintainer, shown=f"openai:{model}", target=target
    )


def enqueue(
    queue: Queue,
    *,
    spec: str,
    submitter: str | None,
    target: SetRef,
    maintainer: bool,
    base_url: str | None = None,
    priority: int = MAINTAINER_PRIORITY,
) -> RequestRecord:
    """Maintainers: queue a baseline, or an API model (enqueueing it is the approval)."""
    if not maintainer:
        raise NotAllowed("only maintainers can enqueue baselines and API models; use submit or request-api")
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise SubmissionRejected(f"priority must be between {-MAX_PRIORITY} and {MAX_PRIORITY}", "well_formed")
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        raise SubmissionRejected(str(exc), "well_formed") from None
    if parsed.kind == "baseline":
        if parsed.target not in BASELINES:
            raise SubmissionRejected(f"unknown baseline: expected one of {', '.join(BASELINES)}", "well_formed")
        if base_url:
            raise SubmissionRejected("a baseline takes no --base-url", "well_formed")
        problem = submitter_problem(submitter)
        if problem:
            raise SubmissionRejected(problem, "well_formed")
        assert submitter is not None
        now = queue.clock()
        record = RequestRecord(
            id=new_request_id(now),
            model=str(parsed),
            model_type="baseline",
            spec=str(parsed),
            submitter=submitter,
            priority=priority,
            set_name=target.name,
            set_version=target.version,
            submitted_at=now,
            updated_at=now,
        ).moved(Status.PENDING, now, note="enqueued by a maintainer")
        return _create_checked(queue, record, rate_limit=None, maintainer=True, shown=str(parsed), target=target)
    if parsed.kind == "openai":
        if base_url is None:
            raise SubmissionRejected("an openai: model needs --base-url (the provider's endpoint)", "well_formed")
        _check_api(parsed.target, base_url, submitter)
        assert submitter is not None
        record = _api_record(
            parsed.target,
            base_url,
            submitter,
            target,
            queue.clock,
            Status.PENDING,
            priority,
            "enqueued by a maintainer",
        )
        return _create_checked(
            queue, record, rate_limit=None, maintainer=True, shown=f"openai:{parsed.target}", target=target
        )
    raise SubmissionRejected(
        "open-weight models are queued with `submit --model ORG/NAME` (it pins and checks the revision)", "well_formed"
    )


def enqueue_conversation(
    queue: Queue, finished: RequestRecord, personas: SetRef, *, priority: int = MAINTAINER_PRIORITY
) -> RequestRecord:
    """Maintainers: queue a finished model again for the conversation track only, on persona set
    version `personas` (after a persona set was rotated; its single-turn results stand).

    The model's own fields (spec, pinned sha, base URL, submitter) are checked as an enqueue
    checks them and carried over; everything its run set on the record starts again. The
    duplicate check is per persona set version, under the intake lock.
    """
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise SubmissionRejected(f"priority must be between {-MAX_PRIORITY} and {MAX_PRIORITY}", "well_formed")
    if finished.status != Status.FINISHED:
        raise SubmissionRejected(f"request {finished.id} is {finished.status}, not FINISHED", "well_formed")
    try:
        parsed = parse_spec(finished.spec)
    except SpecError as exc:
        raise SubmissionRejected(str(exc), "well_formed") from None
    if parsed.kind == "baseline" and parsed.target not in BASELINES:
        raise SubmissionRejected(f"unknown baseline: expected one of {', '.join(BASELINES)}", "well_formed")
    if finished.model_type == "api":
        _check_api(finished.model, finished.base_url or "", finished.submitter)
    problem = submitter_problem(finished.submitter)
    if problem:
        raise SubmissionRejected(problem, "well_formed")
    now = queue.clock()
    # Copied rather than rebuilt field by field, so that a field added to RequestRecord later
    # (the model's, not the run's) is carried over too.
    fresh = finished.model_copy(
        update={
            "id": new_request_id(now),
            "priority": priority,
            "set_name": None,  # no item set: the single-turn track does not run
            "set_version": None,
            "persona_set": personas.name,
            "persona_version": personas.version,
            "only_track": "conversation",
            "reason": None,
            "error_class": None,
            "submitted_at": now,
            "started_at": None,
            "finished_at": None,
            "attempts": 0,
            "worker": None,
            "lease_expires_at": None,
            "progress": None,
            "run_id": None,
            "history": (),
        }
    ).moved(Status.PENDING, now, note=f"conversation-only re-evaluation on persona set {personas} after a rotation")
    shown = f"{finished.model}@{finished.sha[:7]}" if finished.sha else finished.model
    return _create_checked(
        queue, fresh, rate_limit=None, maintainer=True, shown=shown, target=personas, personas=personas
    )


def _check_api(model: str, base_url: str, submitter: str | None) -> None:
    for problem in (api_model_problem(model), base_url_problem(base_url), submitter_problem(submitter)):
        if problem:
            raise SubmissionRejected(problem, "well_formed")


def _api_record(
    model: str,
    base_url: str,
    submitter: str,
    target: SetRef,
    clock: Callable[[], datetime],
    status: Status,
    priority: int,
    note: str,
) -> RequestRecord:
    now = clock()
    return RequestRecord(
        id=new_request_id(now),
        model=model,
        model_type="api",
        spec=f"openai:{model}",
        base_url=base_url.rstrip("/"),
        submitter=submitter,
        priority=priority,
        set_name=target.name,
        set_version=target.version,
        status=status,
        submitted_at=now,
        updated_at=now,
    ).moved(status, now, note=note)
