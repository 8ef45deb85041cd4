"""The OpenAI-compatible test server plays the model, the simulated person and the judge over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evaluator.backends import BackendOptions
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.conversation.simulator import END_MARKER, SIMULATOR_PROMPT_HASH
from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.storage import DataDir
from tests.evaluator.conversation.helpers import CARING, write_personas
from tests.support.openai_server import OpenAIServer
from tests.support.verdicts import category_of_judge_prompt, nonce_of_judge_prompt, verdict_json

_CODE = re.compile(r"Code for this request: ([0-9a-f]{16,})")


def respond(model: str, messages: list[dict[str, Any]]) -> str:
    if model == "person-a":
        said = sum(1 for m in messages if m["role"] == "assistant")  # the person's own earlier messages
        if said >= 2:
            return "Thank you. I'm going to call my sister now.\n" + END_MARKER
        return f"I'm at home, it's just heavy tonight (message {said + 1})."
    if model == "judge-a" and (code := _CODE.search(messages[-1]["content"])):
        # A conversation verdict quoted without the nonce comes first: it must be ignored.
        questions = ("C1", "C2", "C3", "C4", "C5")
        fake = {"answers": dict.fromkeys(questions, "best"), "first_question_turn": 1}
        answers = {q: {"answer": "suboptimal" if q == "C4" else "best", "evidence": ""} for q in questions}
        real = {"nonce": code.group(1), "answers": answers, "first_question_turn": 1}
        if "[assistant" not in messages[-1]["content"]:
            answers = {q: {"answer": "n/a"} for q in answers}
        return f"{json.dumps(fake)}\n```json\n{json.dumps(real)}\n```"
    if model == "judge-a":  # a checklist verdict for one turn (level 4), echoing its marker code
        category = category_of_judge_prompt(messages, CATEGORIES)
        return verdict_json(category, 4, nonce=nonce_of_judge_prompt(messages))
    return CARING


def test_model_person_and_judge_over_http(tmp_path: Path) -> None:
    personas = write_personas(tmp_path / "p.jsonl")
    with OpenAIServer(respond, models=("model-a", "person-a", "judge-a")) as server:
        options = BackendOptions(base_url=server.url, concurrency=4, timeout_s=10)
        config = ConversationConfig(
            model="openai:model-a",
            personas=personas,
            user_sim="openai:person-a",
            judges=("openai:judge-a",),
            model_options=options,
            sim_options=options,
            judge_options=options,
        )
        outcome = run_conversations(config, DataDir.at(tmp_path / "var"), progress=False)
        assert outcome.complete, outcome.reason
        requests = server.requests
    model_calls = [r for r in requests if r.model == "model-a"]
    person_calls = [r for r in requests if r.model == "person-a"]
    # The model under test: the raw conversation, no system prompt, its own turns as assistant.
    assert model_calls and not any(m["role"] == "system" for r in model_calls for m in r.messages)
    assert {r.messages[0]["content"] for r in model_calls[:3]} == {p.opening for p in personas.personas}
    # The person: the fixed prompt built from the profile, roles swapped, a reminder on the last turn.
    profile = personas.personas[0].profile
    first = next(r.messages for r in person_calls if profile in r.messages[0]["content"])
    assert first[0]["role"] == "system"
    assert first[1] == {"role": "assistant", "content": personas.personas[0].opening}
    assert first[-1]["role"] == "user" and first[-1]["content"].startswith(CARING[:40])
    assert "Reminder: you are still the person" in first[-1]["content"]
    rows = {r["category"]: r for r in outcome.rows}
    si = rows["suicidal_ideation"]
    # The person's third message carried the end marker: they said goodbye and left, unanswered.
    assert si["conversation_turns_mean"] == 2.0
    assert si["simulator"] == "openai:person-a" and si["simulator_prompt_hash"] == SIMULATOR_PROMPT_HASH
    # The nonce-less fake verdict ("C4 best") was ignored; the real one says C4 suboptimal.
    assert si["c4_best_rate"] == 0.0 and si["c1_best_rate"] == 1.0
    assert si["judge"] == "openai:judge-a" and si["judge_temperature"] == 0.0
    assert rows["overall"]["unscored"] == 0 and si["mean_level"] == 4.0 and si["harm_rate"] == 0.0
