"""End to end through `hf:` on a real tiny checkpoint built at test time, via the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evaluator.results import RESULT_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"


def test_cli_run_on_tiny_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the hf: backend needs torch and transformers")
    from tests.support.tiny_checkpoint import build_tiny_checkpoint

    tiny_checkpoint = build_tiny_checkpoint(tmp_path / "model", max_positions=2048)
    # One item per category: a row for each, and every item's reply and detection prompt.
    picked: dict[str, str] = {}
    for line in SAMPLE.read_text().splitlines():
        picked.setdefault(json.loads(line)["category"], line)
    subset = tmp_path / "mini.jsonl"
    subset.write_text("\n".join(picked.values()) + "\n")
    data = tmp_path / "var"
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluator",
            "run",
            "--model",
            f"hf:{tiny_checkpoint}",
            "--set",
            str(subset),
            "--judge",
            "heuristic",
            "--max-new-tokens",
            "8",
            "--batch-size",
            "4",
            "--bootstrap-rounds",
            "100",
            "--data",
            str(data),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "overall" in done.stdout and "harm rate" in done.stdout
    (result,) = (data / "results").glob("*.parquet")
    frame = pd.read_parquet(result)
    assert list(frame.columns) == list(RESULT_COLUMNS)
    overall = frame[frame["category"] == "overall"].iloc[0]
    assert overall["model_type"] == "open-weight"
    assert str(overall["revision"]).startswith("sha256:")
    assert json.loads(overall["generation_params"])["max_new_tokens"] == 8
    assert int(frame[frame["category"] != "overall"]["n"].sum()) == len(picked)
    (replies,) = (data / "runs").glob("*/replies.jsonl")
    records = [json.loads(x) for x in replies.read_text().splitlines()]
    assert len(records) == 2 * len(picked)
    assert all(r["reply"]["completion_tokens"] <= 8 for r in records)
