"""Batch mode on CPU: the hf: backend in two Ray Data replicas, Parquet shards, resumed per shard."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluator.backends import BackendOptions, GenerationParams, ModelInfo
from evaluator.executors.batch import BatchPlan, RayDataBackend, batch_model_info
from evaluator.executors.local import LocalExecutor
from evaluator.executors.ray import RayExecutor
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, RunOutcome
from evaluator.storage import DataDir, RunSink

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
PARAMS = GenerationParams(max_new_tokens=6)
PLAN = BatchPlan(replicas=2, shard_size=2, batch_size=1, num_cpus=0.5)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random chat model with room for a whole sample item (the shared one has 256 positions)."""
    pytest.importorskip("transformers", reason="the hf: backend needs torch and transformers")
    from tests.support.tiny_checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("batch-checkpoint") / "model", max_positions=2048)


@dataclass(frozen=True)
class Runs:
    config: RunConfig
    local: RunOutcome
    local_data: DataDir
    batch: RunOutcome
    batch_data: DataDir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, ray_cluster: Any, checkpoint: Path) -> Runs:
    """The same run in one process and in batch mode (two replicas, shards of two), done once.

    Detection is off: it is one more pass of the same backend, and each pass through Ray Data
    starts its replicas anew (the slowest part here).
    """
    import torch

    root = tmp_path_factory.mktemp("batch-runs")
    items = root / "three.jsonl"
    items.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    config = RunConfig(
        model=f"hf:{checkpoint}", item_set=load_set(items), params=PARAMS, detection=False, bootstrap_rounds=50
    )
    local_data, batch_data = DataDir(root / "local"), DataDir(root / "batch")
    # Ray's workers run with OMP_NUM_THREADS=1; so does this process, for the same float sums.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = LocalExecutor().evaluate(config, RunSink.local(local_data.root), lambda: False)
    finally:
        torch.set_num_threads(threads)
    executor = RayExecutor(batch=PLAN, poll_s=0.1)
    try:
        batch = executor.evaluate(config, RunSink.local(batch_data.root), lambda: False)
    finally:
        executor.close()
    return Runs(config, local, local_data, batch, batch_data)


def test_plan_bounds() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchPlan(replicas=0)


@pytest.mark.slow
def test_batch_rows_equal_one_process_rows(runs: Runs) -> None:
    local, batch = runs.local, runs.batch
    assert local.status == batch.status == "complete", (local.reason, batch.reason)
    assert batch.run_id == local.run_id

    def rows(data: DataDir) -> list[dict[str, Any]]:
        frame = pd.read_parquet(data.result_file(local.run_id)).drop(columns=["evaluated_at"])
        return json.loads(frame.to_json(orient="records"))

    assert rows(runs.batch_data) == rows(runs.local_data)
    shards = sorted((runs.batch_data.run_dir(batch.run_id) / "shards").glob("*.parquet"))
    assert len(shards) == 2, "3 replies in shards of 2"
    assert sum(pq.read_table(s).num_rows for s in shards) == 3
    spec = json.loads((runs.batch_data.run_dir(batch.run_id) / "spec.json").read_text())
    assert spec["model_details"]["batch"] == {"replicas": 2, "engine": "hf"}


@pytest.mark.slow
def test_a_finished_shard_is_not_generated_again(tmp_path: Path, runs: Runs) -> None:
    shards = tmp_path / "shards"
    shutil.copytree(runs.batch_data.run_dir(runs.batch.run_id) / "shards", shards)
    first = {json.loads(r)["item_id"]: json.loads(r)["reply"]["text"] for r in _lines(runs)}
    conversations = [item.messages for item in runs.config.item_set.items]
    # One replica is enough to redo one shard (two would both start for a single row).
    plan = replace(PLAN, replicas=1)
    backend = RayDataBackend(runs.config.model, BackendOptions(), plan, batch_model_info(runs.config.model))
    backend.shard_dir = shards
    kept, dropped = sorted(shards.glob("*.parquet"))
    # Mark the kept shard, drop the other: a resumed batch reads the first and redoes the second.
    table = pq.read_table(kept).to_pandas()
    table["text"] = "kept from the shard"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), kept)
    dropped.unlink()

    seen: list[int] = []
    again = backend.generate(conversations, PARAMS, on_reply=lambda i, r: seen.append(i))
    assert [r.text for r in again[:2]] == ["kept from the shard"] * 2
    assert [r.text for r in again[2:]] == [first[item.id] for item in runs.config.item_set.items[2:]]
    assert seen == [0, 1, 2]
    assert dropped.exists()


def _lines(runs: Runs) -> list[str]:
    return (runs.batch_data.run_dir(runs.batch.run_id) / "replies.jsonl").read_text().splitlines()


# ------------------------------------------- the vLLM stages, as Ray 2.60's ray.data.llm runs them


class FakeRows:
    """A Ray Dataset's surface the backend uses, over rows in memory."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def iter_batches(self, batch_size: Any = None, batch_format: str = "pandas") -> Any:
        # Ray Data hands back one frame: columns of rows that lack them are missing values.
        yield pd.DataFrame(self.rows)


class FakeRayDataLLM:
    """ray.data.llm of Ray 2.60 with should_continue_on_error, as its source behaves:

    - every stage loads `model_source` as given, no revision (download_model_files returns a Hub
      id unchanged), so `loaded` records what each stage read;
    - a row whose inference raises becomes the stage's data with vLLMOutputData's defaults
      (generated_text "", num_generated_tokens 0) and `__inference_error__` = "<Error>: <msg>"
      (vllm_engine_stage.py, _generate_with_error_handling), and skips the user's postprocess
      (stages/base.py, wrap_postprocess), which only success rows pass through.
    """

    def __init__(self) -> None:
        self.configs: list[Any] = []
        self.loaded: list[str] = []

    def vLLMEngineProcessorConfig(self, **kwargs: Any) -> Any:
        config = type("Config", (), kwargs)()
        self.configs.append(kwargs)
        return config

    def build_processor(self, config: Any, preprocess: Any, postprocess: Any) -> Any:
        def run(dataset: FakeRows) -> FakeRows:
            for stage in ("chat_template", "tokenize", "engine"):
                self.loaded.append(f"{stage}:{config.model_source}")
            out = []
            for row in dataset.rows:
                data = preprocess(row)
                last = data["messages"][-1]["content"]
                if "poison" in last:
                    data.update(prompt=last, prompt_token_ids=None, num_input_tokens=0, generated_text="")
                    data.update(
                        num_generated_tokens=0, __inference_error__="ValueError: Token id 99999 is out of vocabulary"
                    )
                    out.append(data)  # bypasses postprocess
                    continue
                data.update(generated_text=f"echo: {last}", num_input_tokens=5, num_generated_tokens=2)
                result = postprocess(data)
                if config.should_continue_on_error:
                    result["__inference_error__"] = ""
                out.append(result)
            return FakeRows(out)

        return run


def test_a_failed_vllm_row_is_a_failed_reply_and_every_stage_reads_the_pinned_commit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ray.data

    fake = FakeRayDataLLM()
    monkeypatch.setitem(sys.modules, "ray.data.llm", fake)
    monkeypatch.setattr(ray.data, "from_items", lambda rows, **_: FakeRows(rows))
    commit = "a" * 40
    snapshot = tmp_path / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    asked: list[tuple[str, str]] = []

    def snapshotter(repo_id: str, revision: str) -> str:
        asked.append((repo_id, revision))
        return str(snapshot)

    info = ModelInfo(spec="vllm:org/model@main", model="org/model", revision=commit, model_type="open-weight")
    backend = RayDataBackend("vllm:org/model@main", BackendOptions(), PLAN, info, snapshot=snapshotter)
    backend.shard_dir = tmp_path / "shards"
    conversations = [[{"role": "user", "content": text}] for text in ("hello", "some poison", "bye")]
    replies = backend.generate(conversations, PARAMS)

    assert [r.ok for r in replies] == [True, False, True]
    assert replies[1].text is None
    assert replies[1].error == "ValueError: Token id 99999 is out of vocabulary"
    assert [replies[0].text, replies[2].text] == ["echo: hello", "echo: bye"]
    # The commit the run records, for the tokenizer stages as for the engine: never the branch.
    assert asked == [("org/model", commit)]
    assert set(fake.loaded) == {f"{stage}:{snapshot}" for stage in ("chat_template", "tokenize", "engine")}
    (config,) = fake.configs
    assert "revision" not in config["engine_kwargs"]
    assert config["engine_kwargs"]["max_model_len"] == 4096, "room for the prompts, capped by the model's context"
    assert config["should_continue_on_error"] is True
