"""The worker evaluates a submission on both tracks: single replies, then conversations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaluator.items import load_set
from evaluator.storage import DataDir
from evaluator.worker import Worker, WorkerConfig
from submissions.intake import enqueue
from submissions.queue import Queue
from submissions.records import Status
from submissions.store import LocalRequestStore
from submissions.target import SetRef

ROOT = Path(__file__).resolve().parents[3]
TARGET = SetRef.of(load_set(ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"))


def submit(data: DataDir, spec: str = "baseline:template") -> str:
    queue = Queue(LocalRequestStore(data))
    return enqueue(queue, spec=spec, submitter="boss", target=TARGET, maintainer=True).id


def test_a_submission_gets_single_turn_and_conversation_results(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    rid = submit(data)
    worker = Worker(WorkerConfig(data=str(data.root), name="w-test", personas="public-personas"))
    assert worker.tick() == "finished"
    record = Queue(LocalRequestStore(data)).get(rid)
    assert record.status == Status.FINISHED and record.set_name == "public-sample"
    frames = [pd.read_parquet(p) for p in sorted(data.results.glob("*.parquet"))]
    tracks = {str(f["track"].iloc[0]): f for f in frames}
    assert set(tracks) == {"single_turn", "conversation"}
    talk = tracks["conversation"]
    assert set(talk["model"]) == {"baseline:template"} and set(talk["set_name"]) == {"public-personas"}
    assert set(talk["simulator"]) == {"script@1"}
    assert len(list((data.public / "conversations").glob("*.jsonl"))) == 1


def test_a_conversation_track_that_cannot_run_leaves_the_request_unfinished(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    rid = submit(data)
    worker = Worker(WorkerConfig(data=str(data.root), name="w-test", personas="no-such-personas"))
    worker.tick()
    record = Queue(LocalRequestStore(data)).get(rid)
    assert record.status != Status.FINISHED
    assert "no persona set named no-such-personas" in (record.reason or "")
    # No conversation rows; the finished single-turn run is kept for the retry to reuse.
    frames = [pd.read_parquet(p) for p in data.results.glob("*.parquet")]
    assert all(set(f["track"]) == {"single_turn"} for f in frames)


def test_personas_none_evaluates_single_replies_only(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    submit(data)
    worker = Worker(WorkerConfig(data=str(data.root), name="w-test", personas="none"))
    assert worker.tick() == "finished"
    assert len(list(data.results.glob("*.parquet"))) == 1
