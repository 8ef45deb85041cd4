"""The real small chat model (SmolLM2-135M-Instruct, GGUF, from the tests) plays the simulated
person for two turns: the fixed simulator prompt goes through a real chat template and a real
generation, and what comes back is the person's next message. The person's message is cut at
a few tokens (SmolLM2 rarely stops on its own: 160 tokens take most of a minute on a loaded CPU);
loading the model (tens of seconds) is the rest of the test's time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from evaluator.backends import make_backend
from evaluator.conversation import ConversationConfig, ModelSimulator, load_persona_set, run_conversations
from evaluator.conversation import simulator as simulator_module
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir
from tests.evaluator.backends.test_hf_gguf import smollm2_gguf  # noqa: F401 - the session fixture
from tests.evaluator.conversation.helpers import CARING, PERSONAS, always
from tests.support.scripted import ScriptedBackend

MAX_PERSON_TOKENS = 12


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smollm2_plays_the_person_for_two_turns(
    tmp_path: Path,
    smollm2_gguf: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    few = replace(simulator_module.SIMULATOR_PARAMS, max_new_tokens=MAX_PERSON_TOKENS)
    monkeypatch.setattr(simulator_module, "SIMULATOR_PARAMS", few)
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(dict(PERSONAS[0], max_turns=2)) + "\n", encoding="utf-8")
    personas = load_persona_set(path)
    person = ModelSimulator(make_backend(f"hf:{smollm2_gguf}"))
    model = ScriptedBackend(always(CARING), name="talk/caring")
    config = ConversationConfig(model="talk/caring", personas=personas, max_turns=2)
    data = DataDir.at(tmp_path / "var")
    judges = [HeuristicJudge()]
    outcome = run_conversations(config, data, progress=False, backend=model, simulator=person, judges=judges)
    person.close()
    assert outcome.complete, outcome.reason
    records = [json.loads(line) for line in (data.run_dir(outcome.run_id) / "turns.jsonl").read_text().splitlines()]
    said = [r for r in records if r["role"] == "user"]
    assert len(said) == 1 and said[0]["turn"] == 2
    # A real generation through the simulator's prompt: text, or the person leaving.
    assert said[0]["text"] or said[0]["ended"]
    assert 0 < said[0]["reply"]["completion_tokens"] <= MAX_PERSON_TOKENS
    overall = next(r for r in outcome.rows if r["category"] == "overall")
    assert overall["simulator"].startswith("hf:") and overall["n"] == 1
