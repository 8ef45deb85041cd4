"""Responders for the local OpenAI-compatible server that play both the model and the judge.

Deterministic and item-dependent, so runs can be compared: the judge's level is a hash of
the judge prompt with its random nonce removed. Models whose name starts with "judge" judge.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from evaluator.protocol.detection import DETECTION_INSTRUCTION
from evaluator.protocol.taxonomy import CATEGORIES
from tests.support.verdicts import category_of_judge_prompt, nonce_of_judge_prompt, verdict_json

_NONCE = re.compile(r"[0-9a-f]{12,}")


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)


def model_and_judge(model: str, messages: list[dict[str, Any]]) -> str:
    text = "\n".join(str(m.get("content", "")) for m in messages)
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
