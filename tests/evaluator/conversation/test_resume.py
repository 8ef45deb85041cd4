"""A conversation run SIGKILLed mid-turn continues from the last finished turn, same rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from evaluator.conversation.persona import resolve_personas
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir
from tests.evaluator.conversation.helpers import varied
from tests.support.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parents[3]


def _run(data: DataDir) -> tuple[list[dict], ScriptedBackend]:
    personas = resolve_personas("public-personas", data)
    backend = ScriptedBackend(varied)
    config = ConversationConfig(model="scripted:test", personas=personas)
    outcome = run_conversations(config, data, progress=False, backend=backend, judges=[HeuristicJudge()])
    assert outcome.complete, outcome.reason
    return [{k: v for k, v in r.items() if k != "evaluated_at"} for r in outcome.rows], backend


def test_sigkill_mid_turn_then_resume_gives_the_same_rows(tmp_path: Path) -> None:
    killed = DataDir.at(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.evaluator.conversation.resume_child", str(killed.root), "0.02"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        turns = None
        while time.monotonic() < deadline:
            found = list(killed.runs.glob("*/turns.jsonl")) if killed.runs.exists() else []
            # Past the first turn (30 model and about 30 person records), inside the second one.
            if found and found[0].read_bytes().count(b"\n") >= 70:
                turns = found[0]
                break
            time.sleep(0.02)
        assert turns is not None, "the child made no progress"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    before = turns.read_bytes().count(b"\n")
    assert not (turns.parent / "status.json").exists()  # it died mid-run
    resumed, backend = _run(killed)
    fresh, fresh_backend = _run(DataDir.at(tmp_path / "fresh"))
    assert resumed == fresh
    # The resumed run generated only what had not finished (the cache is per data dir here).
    model_records = sum(1 for line in turns.read_text().splitlines()[:before] if '"assistant"' in line)
    assert len(backend.calls) == len(fresh_backend.calls) - model_records
