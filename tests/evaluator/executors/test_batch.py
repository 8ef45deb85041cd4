"""Batch mode on CPU: the hf: backend in two Ray Data replicas, Parquet shards, resumed per shard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluator.backends import BackendOptions, GenerationParams
from evaluator.executors.batch import BatchPlan, RayDataBackend, batch_model_info
from evaluator.executors.local import LocalExecutor
from evaluator.executors.ray import RayExecutor
from evaluator.items import load_set
from evaluator.pipeline import RunConfig
from evaluator.storage import DataDir

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
PARAMS = GenerationParams(max_new_tokens=6)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def one_thread() -> Iterator[None]:
    # Ray's workers run with OMP_NUM_THREADS=1; so does this process, for the same float sums.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random chat model with room for the detection prompt (the shared one has 256 positions)."""
    pytest.importorskip("transformers", reason="the hf: backend needs torch and transformers")
    from tests.support.tiny_checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("batch-checkpoint") / "model", max_positions=2048)


def test_plan_bounds() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchPlan(replicas=0)


@pytest.mark.slow
def test_batch_rows_equal_one_process_rows(
    tmp_path: Path, ray_cluster: Any, checkpoint: Path, one_thread: None
) -> None:
    items = tmp_path / "three.jsonl"
    items.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    config = RunConfig(model=f"hf:{checkpoint}", item_set=load_set(items), params=PARAMS, bootstrap_rounds=50)
    local_data, batch_data = DataDir(tmp_path / "local"), DataDir(tmp_path / "batch")
    local = LocalExecutor().evaluate(config, local_data, lambda: False)
    executor = RayExecutor(batch=BatchPlan(replicas=2, shard_size=2, batch_size=1, num_cpus=0.5), poll_s=0.1)
    batch = executor.evaluate(config, batch_data, lambda: False)

    assert local.status == batch.status == "complete", (local.reason, batch.reason)
    assert batch.run_id == local.run_id

    def rows(data: DataDir) -> list[dict[str, Any]]:
        frame = pd.read_parquet(data.result_file(local.run_id)).drop(columns=["evaluated_at"])
        return json.loads(frame.to_json(orient="records"))

    assert rows(batch_data) == rows(local_data)
    shards = sorted((batch_data.run_dir(batch.run_id) / "shards").glob("*.parquet"))
    assert len(shards) == 4, "3 replies and 3 detections, in shards of 2"
    assert sum(pq.read_table(s).num_rows for s in shards) == 6
    spec = json.loads((batch_data.run_dir(batch.run_id) / "spec.json").read_text())
    assert spec["model_details"]["batch"] == {"replicas": 2, "engine": "hf"}


def test_a_finished_shard_is_not_generated_again(tmp_path: Path, ray_cluster: Any, checkpoint: Path) -> None:
    spec = f"hf:{checkpoint}"
    conversations = [[{"role": "user", "content": f"I can't cope with day {n} of this."}] for n in range(4)]
    backend = RayDataBackend(
        spec, BackendOptions(), BatchPlan(replicas=2, shard_size=2, num_cpus=0.5), batch_model_info(spec)
    )
    backend.shard_dir = tmp_path / "shards"
    first = backend.generate(conversations, PARAMS)
    assert all(r.ok for r in first), [r.error for r in first]
    kept, dropped = sorted(backend.shard_dir.glob("*.parquet"))
    # Mark the kept shard, drop the other: a resumed batch reads the first and redoes the second.
    table = pq.read_table(kept).to_pandas()
    table["text"] = "kept from the shard"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), kept)
    dropped.unlink()

    seen: list[int] = []
    again = backend.generate(conversations, PARAMS, on_reply=lambda i, r: seen.append(i))
    assert [r.text for r in again[:2]] == ["kept from the shard"] * 2
    assert [r.text for r in again[2:]] == [r.text for r in first[2:]]
    assert seen == [0, 1, 2, 3]
    assert dropped.exists()
