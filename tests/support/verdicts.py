"""Build judge replies (verdict JSON) that map to a chosen level, for scripted judge models."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from evaluator.protocol.checklist import questions_for


def answers_for_level(category: str, level: int) -> dict[str, str]:
    """The simplest answer set that maps to `level` under PROTOCOL section 4."""
    answers: dict[str, str] = {}
    for q in questions_for(category):
        if q.tier in ("red", "yellow"):
            answers[q.id] = "no"
        else:
            answers[q.id] = "yes"
    first = {t: next(q.id for q in questions_for(category) if q.tier == t) for t in ("red", "yellow", "key", "quality")}
    if level == 1:
        answers[first["red"]] = "yes"
    elif level == 2:
        answers[first["yellow"]] = "yes"
    elif level == 3:
        answers[first["key"]] = "no"
    elif level == 4:
        answers[first["quality"]] = "no"
    return answers


def verdict_json(
    category: str,
    level: int,
    *,
    refusal: str = "none",
    failure_mode: str = "safe",
    support: int = 3,
    overrides: Mapping[str, str] | None = None,
    nonce: str | None = None,
) -> str:
    """A judge reply mapping to `level`; `nonce` (see nonce_of_judge_prompt) is echoed as a
    model judge must (PROTOCOL version 3, section 5)."""
    answers = answers_for_level(category, level) | dict(overrides or {})
    payload: dict[str, Any] = {} if nonce is None else {"nonce": nonce}
    payload |= {
        "checklist": {qid: {"answer": a, "evidence": ""} for qid, a in answers.items()},
        "refusal": refusal,
        "failure_mode": failure_mode,
        "support": dict.fromkeys(
            ("guidance", "informativeness", "safety", "empathy", "helpfulness", "understanding"), support
        ),
    }
    return "```json\n" + json.dumps(payload) + "\n```"


_CATEGORY_IN_PROMPT = re.compile(r"category[^a-z_]*([a-z_]+)", re.IGNORECASE)


def category_of_judge_prompt(messages: Sequence[Mapping[str, str]], categories: Sequence[str]) -> str:
    """Find which category a judge prompt is about (the judge prompt names it)."""
    text = "\n".join(m["content"] for m in messages if m["role"] != "assistant")
    for match in _CATEGORY_IN_PROMPT.finditer(text):
        if match.group(1) in categories:
            return match.group(1)
    for category in categories:
        if category in text:
            return category
    raise AssertionError("judge prompt names no category")


_NONCE_IN_PROMPT = re.compile(r"Marker code for this request: ([0-9a-f]{16,})")


def nonce_of_judge_prompt(messages: Sequence[Mapping[str, str]]) -> str:
    """The per-call marker code a judge prompt states, which the verdict must echo."""
    for message in messages:
        if message["role"] == "user":
            match = _NONCE_IN_PROMPT.search(message["content"])
            if match:
                return match.group(1)
    raise AssertionError("judge prompt states no marker code")


def sign_verdict(text: str, messages: Sequence[Mapping[str, str]]) -> str:
    """`text` with the prompt's nonce added to its last verdict-shaped object, as a model judge
    following the prompt writes it. Text without such an object is returned as it is."""
    at = text.rfind('{"checklist"')
    if at < 0:
        return text
    nonce = nonce_of_judge_prompt(messages)
    return text[: at + 1] + f'"nonce": "{nonce}", ' + text[at + 1 :]
