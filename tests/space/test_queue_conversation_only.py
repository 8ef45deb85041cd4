"""The queue page names the persona set a conversation-only re-evaluation runs on (it has no item set)."""

from __future__ import annotations

from pathlib import Path

from evaluator.storage import DataDir
from space.tabs import GROUPS, queue_tables
from submissions import Queue
from submissions.intake import enqueue_conversation
from submissions.records import Status
from submissions.target import SetRef
from tests.submissions.helpers import make_record


def test_the_queue_page_names_the_persona_set_of_a_conversation_only_request(tmp_path: Path) -> None:
    queue = Queue.local(DataDir(tmp_path / "var"))
    source = make_record(1, status=Status.FINISHED, run_id="run1", persona_set="held-talk", persona_version="v0001")
    queue.store.create(source)
    enqueue_conversation(queue, source, SetRef("held-talk", "v0002"))
    _, tables = queue_tables(queue)
    by_group = dict(zip((g for g, _ in GROUPS), tables, strict=True))
    assert by_group["Pending"]["Set"].tolist() == ["personas held-talk v0002 (conversations only)"]
    assert by_group["Finished"]["Set"].tolist() == ["heldout v1"]
