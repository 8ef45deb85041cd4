"""A persona set rotation takes effect for models already evaluated: cutting a persona version
queues every model whose conversations ran on the previous one for the conversation track
only, the worker runs just that track on the new version, and the conversation board moves
to it once enough models have it (PROTOCOL section 9, rotated exactly like item sets)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evaluator.cli import main
from evaluator.conversation.persona_sets import freeze_personas, retire_personas
from evaluator.items import load_set
from evaluator.storage import DataDir
from evaluator.worker import Worker, WorkerConfig
from leaderboard.conversations import current_conversation_board
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from submissions.intake import enqueue, enqueue_conversation
from submissions.queue import Queue
from submissions.records import Status
from submissions.requeue import requeue_conversations
from submissions.store import LocalRequestStore
from submissions.target import SetRef
from tests.evaluator.conversation.helpers import PERSONAS, write_personas

ROOT = Path(__file__).resolve().parents[3]
TARGET = SetRef.of(load_set(ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"))
MODELS = ("baseline:template", "baseline:refusal")


def tracks(data: DataDir) -> list[tuple[str, str, str]]:
    """(track, model, persona or item set version) of every result file."""
    out = []
    for path in sorted(data.results.glob("*.parquet")):
        frame = pd.read_parquet(path, columns=["track", "model", "set_version"])
        out.append((str(frame["track"].iloc[0]), str(frame["model"].iloc[0]), str(frame["set_version"].iloc[0])))
    return out


def board_version(data: DataDir) -> str | None:
    board, _ = current_conversation_board(Leaderboard(ResultStore(data), min_models=2))
    return None if board is None else board.set_version


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_persona_cut_requeues_finished_models_for_conversations_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = DataDir(tmp_path / "var")
    write_personas(tmp_path / "p.jsonl", PERSONAS)
    freeze_personas(data, "held-talk", tmp_path / "p.jsonl")
    queue = Queue(LocalRequestStore(data))
    first = [enqueue(queue, spec=m, submitter="boss", target=TARGET, maintainer=True).id for m in MODELS]
    worker = Worker(WorkerConfig(data=str(data.root), name="w-test", personas="held-talk"))
    assert [worker.tick(), worker.tick()] == ["finished", "finished"]
    for rid in first:  # both tracks ran; the record says where the conversations ran
        record = queue.get(rid)
        assert (record.set_name, record.persona_set, record.persona_version) == ("public-sample", "held-talk", "v0001")
        assert not record.conversation_only
    before = tracks(data)
    assert sorted(t for t, _, _ in before) == ["conversation"] * 2 + ["single_turn"] * 2
    assert board_version(data) == "v0001"

    code, out, err = cli(capsys, "personas", "retire", "held-talk", "--ids", "t-nc", "--data", str(data.root))
    assert code == 0, err
    assert "held-talk v0002" in out and "conversation re-evaluation queued for 2 models finished on v0001" in out
    queued = [r for r in queue.store.all() if r.status == Status.PENDING]
    assert sorted(r.model for r in queued) == sorted(MODELS)
    for record in queued:
        assert record.conversation_only and (record.persona_set, record.persona_version) == ("held-talk", "v0002")
        assert record.set_name is None and record.run_id is None and record.attempts == 0 and record.priority == 10
    # The board stays on v0001, labelled, until the newest version has the minimum of models.
    assert board_version(data) == "v0001"

    assert worker.tick() == "finished"
    assert board_version(data) == "v0001"  # one of the two models needed
    assert worker.tick() == "finished"
    after = tracks(data)
    new = [t for t in after if t not in before]
    # Only the conversation track ran: no new single-turn rows, two conversation runs on v0002.
    assert sorted(new) == sorted(("conversation", m, "v0002") for m in MODELS)
    for record in queued:
        done = queue.get(record.id)
        assert done.status == Status.FINISHED and done.set_name is None and done.persona_version == "v0002"
        assert done.run_id and any(done.run_id in p.name for p in data.results.glob("*.parquet"))
    assert board_version(data) == "v0002"

    # Cutting again from v0001 queues nothing twice: each model is evaluated on v0002 already.
    again = requeue_conversations(data, "held-talk", "v0001", "v0002")
    assert again.queued == [] and len(again.skipped) == 2


def test_no_requeue_cuts_the_persona_version_and_queues_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = DataDir(tmp_path / "var")
    write_personas(tmp_path / "p.jsonl", PERSONAS)
    freeze_personas(data, "held-talk", tmp_path / "p.jsonl")
    queue = Queue(LocalRequestStore(data))
    enqueue(queue, spec="baseline:template", submitter="boss", target=TARGET, maintainer=True)
    assert Worker(WorkerConfig(data=str(data.root), name="w-test", personas="held-talk")).tick() == "finished"
    write_personas(tmp_path / "p2.jsonl", [p for p in PERSONAS if p["id"] != "t-nc"])
    argv = ("personas", "freeze", "held-talk", "--from", str(tmp_path / "p2.jsonl"), "--data", str(data.root))
    code, out, err = cli(capsys, *argv, "--no-requeue")
    assert code == 0, err
    assert "held-talk v0002" in out and "re-evaluation" not in out
    assert [r.status for r in queue.store.all()] == [Status.FINISHED]


def test_records_from_before_the_fields_are_found_by_their_conversation_rows(tmp_path: Path) -> None:
    """A deployment's first rotation: its finished records do not say where their conversations
    ran, and the conversation result rows on the previous version say it instead."""
    data = DataDir(tmp_path / "var")
    write_personas(tmp_path / "p.jsonl", PERSONAS)
    freeze_personas(data, "held-talk", tmp_path / "p.jsonl")
    queue = Queue(LocalRequestStore(data))
    talked = enqueue(queue, spec="baseline:template", submitter="boss", target=TARGET, maintainer=True).id
    assert Worker(WorkerConfig(data=str(data.root), name="w-test", personas="held-talk")).tick() == "finished"
    silent = enqueue(queue, spec="baseline:refusal", submitter="boss", target=TARGET, maintainer=True).id
    assert Worker(WorkerConfig(data=str(data.root), name="w-test", personas="none")).tick() == "finished"
    for rid in (talked, silent):  # as written before requests named their persona set
        path = data.requests / f"{rid}.json"
        old = json.loads(path.read_text(encoding="utf-8"))
        for key in ("persona_set", "persona_version", "only_track"):
            old.pop(key)
        path.write_text(json.dumps(old), encoding="utf-8")
    assert queue.get(talked).persona_set is None
    retire_personas(data, "held-talk", ids=["t-nc"])
    report = requeue_conversations(data, "held-talk", "v0001", "v0002")
    assert [model for model, _ in report.queued] == ["baseline:template"]  # the other had no conversations
    assert requeue_conversations(data, "held-talk", "v0000", "v0002").queued == []


def test_a_conversation_only_request_for_a_persona_version_not_here_fails_and_runs_nothing(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    write_personas(tmp_path / "p.jsonl", PERSONAS)
    freeze_personas(data, "held-talk", tmp_path / "p.jsonl")
    queue = Queue(LocalRequestStore(data))
    enqueue(queue, spec="baseline:template", submitter="boss", target=TARGET, maintainer=True)
    worker = Worker(WorkerConfig(data=str(data.root), name="w-test", personas="held-talk"))
    assert worker.tick() == "finished"
    before = tracks(data)
    (finished,) = queue.store.all()
    rid = enqueue_conversation(queue, finished, SetRef("held-talk", "v0009")).id
    worker.tick()
    record = queue.get(rid)
    assert record.status != Status.FINISHED and "persona set held-talk has no version v0009" in (record.reason or "")
    assert tracks(data) == before  # never another version, never the single-turn track
