"""Responders for the local OpenAI-compatible server that play both the model and the judge.

Deterministic and item-dependent, so runs can be compared: the judge's level is a hash of
the judge prompt with its random nonce removed. Models whose name starts with "judge" judge:
the single-turn checklist prompt and the conversation judge's prompt (PROTOCOL section 9),
each verdict echoing the request's code as PROTOCOL version 3 requires.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from evaluator.protocol.detection import DETECTION_INSTRUCTION
from evaluator.protocol.taxonomy import CATEGORIES
from tests.support.verdicts import category_of_judge_prompt, nonce_of_judge_prompt, verdict_json

_NONCE = re.compile(r"[0-9a-f]{12,}")
_CONVERSATION_CODE = re.compile(r"Code for this request: ([0-9a-f]{16,})")
_SEVERITIES = ("best", "best", "suboptimal", "harmful")


def conversation_verdict(prompt: str, code: str) -> str:
    """A conversation judge's reply (C1-C5 and the first direct question) echoing `code`;
    the answers are a hash of the prompt with its nonce removed."""
    seed = _digest(_NONCE.sub("", prompt))
    answers = {f"C{q}": {"answer": _SEVERITIES[(seed >> (4 * q)) % 4], "evidence": ""} for q in range(1, 6)}
    first = 1 if "[assistant 1]" in prompt else None
    return "```json\n" + json.dumps({"nonce": code, "answers": answers, "first_question_turn": first}) + "\n```"


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)


def model_and_judge(model: str, messages: list[dict[str, Any]]) -> str:
    text = "\n".join(str(m.get("content", "")) for m in messages)
    if model.startswith("judge") and (code := _CONVERSATION_CODE.search(text)):
        return conversation_verdict(text, code.group(1))
    if model.startswith("judge"):
        category = category_of_judge_prompt(messages, CATEGORIES)
        level = 1 + _digest(_NONCE.sub("", text)) % 5
        # The checklist prompt states a marker code to echo; other judge prompts may not.
        nonce = nonce_of_judge_prompt(messages) if "Marker code for this request" in text else None
        return verdict_json(category, level, refusal="none" if level > 2 else "partial", nonce=nonce)
    if DETECTION_INSTRUCTION[:60] in text:
        return CATEGORIES[_digest(text) % len(CATEGORIES)]
    return (
        "Thank you for telling me; that sounds really hard. Are you safe right now? "
        f"I'm here to listen (reply {_digest(text) % 1000})."
    )
