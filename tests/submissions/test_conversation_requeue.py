"""Conversation-only re-evaluations after a persona set was rotated: the request record's new
fields, the intake's checks, and how item set re-queueing treats them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evaluator.storage import DataDir
from submissions.errors import SubmissionRejected
from submissions.intake import enqueue_conversation
from submissions.queue import Queue
from submissions.records import RequestRecord, Status
from submissions.requeue import finished_on, requeue_conversations, submissions_enqueue
from submissions.target import SetRef
from tests.submissions.helpers import make_record

PERSONAS = SetRef("held-talk", "v0002")


def finished(n: int, **changes: Any) -> RequestRecord:
    fields = {"status": Status.FINISHED, "run_id": f"run{n}", "persona_set": "held-talk", "persona_version": "v0001"}
    return make_record(n, **(fields | changes))


def test_a_record_written_before_the_fields_reads_as_a_submission_on_both_tracks(data: DataDir) -> None:
    old = make_record(1, status=Status.FINISHED).to_json()
    for key in ("persona_set", "persona_version", "only_track"):
        old.pop(key)
    data.requests.mkdir(parents=True)
    (data.requests / "req-00001.json").write_text(json.dumps(old), encoding="utf-8")
    record = Queue.local(data).get("req-00001")
    assert record.persona_set is None and record.only_track is None and not record.conversation_only
    with pytest.raises(ValueError):
        RequestRecord.from_json(old | {"only_track": "single_turn"})


def test_the_intake_queues_a_conversation_only_copy_once_per_persona_version(queue: Queue) -> None:
    source = finished(1)
    queue.store.create(source)
    fresh = enqueue_conversation(queue, source, PERSONAS)
    assert fresh.status == Status.PENDING and fresh.conversation_only and fresh.priority == 10
    assert (fresh.persona_set, fresh.persona_version, fresh.set_name, fresh.set_version) == (
        "held-talk",
        "v0002",
        None,
        None,
    )
    assert (fresh.spec, fresh.sha, fresh.submitter) == (source.spec, source.sha, source.submitter)
    assert fresh.run_id is None and fresh.attempts == 0 and fresh.id != source.id
    assert "conversation-only re-evaluation on persona set held-talk@v0002" in (fresh.history[-1].note or "")
    with pytest.raises(SubmissionRejected, match="is queued on persona set held-talk@v0002") as refused:
        enqueue_conversation(queue, source, PERSONAS)
    assert refused.value.check == "duplicate"
    # Another persona version is another evaluation.
    assert enqueue_conversation(queue, source, SetRef("held-talk", "v0003")).persona_version == "v0003"


def test_the_intake_refuses_what_it_would_refuse_from_a_maintainer(queue: Queue) -> None:
    with pytest.raises(SubmissionRejected, match="not FINISHED"):
        enqueue_conversation(queue, finished(1, status=Status.FAILED), PERSONAS)
    with pytest.raises(SubmissionRejected, match="unknown baseline"):
        bad = finished(2, model="baseline:nope", model_type="baseline", spec="baseline:nope", sha=None)
        enqueue_conversation(queue, bad, PERSONAS)
    with pytest.raises(SubmissionRejected, match="priority"):
        enqueue_conversation(queue, finished(3), PERSONAS, priority=10_000)
    assert queue.store.all() == []


def test_requeue_picks_models_by_where_their_conversations_ran(data: DataDir) -> None:
    queue = Queue.local(data)
    for record in (
        finished(1),
        finished(2, persona_version="v0000"),  # another persona version
        finished(3, persona_set=None, persona_version=None),  # from before records named one
        finished(4, status=Status.FAILED),
    ):
        queue.store.create(record)
    report = requeue_conversations(data, "held-talk", "v0001", "v0002")
    assert [model for model, _ in report.queued] == ["org/model-1"] and not report.failed


def test_an_item_set_requeue_of_a_conversation_only_model_runs_both_tracks_again(data: DataDir) -> None:
    """The item set's re-queue copies the finished record: the persona fields start again."""
    queue = Queue.local(data)
    queue.store.create(finished(1))
    (job,) = finished_on(data, "heldout", "v1", "v2")
    new_id = submissions_enqueue(data)(job, 10)
    assert new_id is not None
    record = queue.get(new_id)
    assert (record.set_version, record.persona_set, record.persona_version, record.only_track) == (
        "v2",
        None,
        None,
        None,
    )


def test_a_conversation_only_request_names_its_persona_set(queue: Queue) -> None:
    queue.store.create(finished(1))
    fresh = enqueue_conversation(queue, finished(1), PERSONAS)
    assert fresh.set_label == "personas held-talk v0002 (conversations only)"
    assert finished(1).set_label == "heldout v1"
