"""A judge answering valid HTTP with unparsable verdicts must not poison a model (issue 10.2).

Real HTTP to the local OpenAI-compatible server; the worker runs the real pipeline.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

from evaluator.backends import BackendOptions
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.storage import DataDir
from evaluator.worker import Worker, WorkerConfig
from submissions.intake import enqueue
from submissions.queue import Queue
from submissions.records import Status
from submissions.store import LocalRequestStore
from submissions.target import SetRef
from tests.support.openai_server import OpenAIServer
from tests.support.responders import model_and_judge

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"


def junk(model: str, messages: list[dict[str, Any]]) -> str:
    if model.startswith("judge"):
        return "Honestly this reply seems fine to me. Score: 5/5"  # valid HTTP, no verdict
    return model_and_judge(model, messages)


def small_set(tmp_path: Path, n: int = 6) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    return path


def cached_judgements(data: DataDir) -> int:
    db = data.cache / "cache.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT value FROM entries").fetchall()
    return sum(1 for (value,) in rows if '"prompt_hash"' in value)


def test_junk_verdicts_publish_nothing_are_not_cached_and_a_fixed_judge_scores(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    items = load_set(small_set(tmp_path))
    with OpenAIServer(junk) as server:
        options = BackendOptions(base_url=server.url, timeout_s=5.0, concurrency=4)
        config = RunConfig(
            model="openai:model-a",
            item_set=items,
            judges=("openai:judge-a",),
            model_options=options,
            judge_options=options,
            detection=False,
            bootstrap_rounds=50,
        )
        first = run_evaluation(config, data, progress=False)
        assert first.status == "unscored" and not first.complete
        assert first.error_class == "VerdictError"
        assert "nothing was scored" in (first.reason or "") and "VerdictError" in (first.reason or "")
        assert first.stats["judge_failures"] == {"VerdictError": len(items.items)}
        assert not data.results.exists() or not list(data.results.glob("*.parquet"))
        assert cached_judgements(data) == 0

        server.responder = model_and_judge  # the judge is fixed; same spec, same run id
        second = run_evaluation(config, data, progress=False)
    assert second.complete and second.run_id == first.run_id, second.reason
    overall = next(r for r in second.rows if r["category"] == "overall")
    assert overall["n"] > 0 and overall["unscored"] == 0


def test_the_worker_fails_the_request_with_the_judge_error_class_and_it_can_be_retried(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    set_path = small_set(tmp_path)
    queue = Queue(LocalRequestStore(data))
    target = SetRef.of(load_set(set_path))
    record = enqueue(queue, spec="baseline:template", base_url=None, submitter="boss", target=target, maintainer=True)
    with OpenAIServer(junk) as server:
        config = WorkerConfig(
            data=str(data.root),
            name="w-attack",
            item_set=str(set_path),
            judges=("openai:judge-a",),
            judge_base_url=server.url,
            bootstrap_rounds=50,
            timeout_s=5.0,
        )
        assert Worker(config).tick() == "failed"
        failed = queue.get(record.id)
        assert failed.status == Status.FAILED and failed.error_class == "VerdictError"
        assert failed.run_id is None and "nothing was scored" in (failed.reason or "")
        assert not data.results.exists() or not list(data.results.glob("*.parquet"))

        server.responder = model_and_judge
        assert queue.retry(record.id, maintainer=True).status == Status.PENDING
        assert Worker(config).tick() == "finished"
    done = queue.get(record.id)
    assert done.status == Status.FINISHED and done.run_id
    rows = pd.read_parquet(data.result_file(done.run_id))
    assert int(rows.loc[rows["category"] == "overall", "n"].iloc[0]) > 0
