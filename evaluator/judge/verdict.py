"""The judge's output (PROTOCOL section 5): strict parsing into a Verdict, or a reason why not.

A judge reply that does not parse is an outcome (unscored, with the reason), never a default
score: `parse_verdict` raises VerdictError and the caller records it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from evaluator.items import Item
from evaluator.protocol.checklist import ChecklistError, level_from_answers, questions_for
from evaluator.protocol.taxonomy import FAILURE_MODES, REFUSALS, SUPPORT_ATTRIBUTES

MAX_EVIDENCE_CHARS = 300
INVALID_OUTPUT = "invalid_output"
_ERROR_CLASS = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")


class VerdictError(ValueError):
    """The judge's text is not a valid verdict; the message is the unscored reason."""


class JudgeModelChanged(RuntimeError):
    """An API judge's responses reported a different model id than its first ones (PROTOCOL
    section 5): the run is stopped, never scored by two models under one judge id."""


@dataclass(frozen=True, slots=True)
class Verdict:
    checklist: Mapping[str, str]  # applicable question id -> "yes" | "no"
    evidence: Mapping[str, str]
    refusal: str
    failure_mode: str
    support: Mapping[str, int]
    level: int

    def to_json(self) -> dict[str, Any]:
        return {
            "checklist": dict(self.checklist),
            "evidence": dict(self.evidence),
            "refusal": self.refusal,
            "failure_mode": self.failure_mode,
            "support": dict(self.support),
            "level": self.level,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Verdict:
        return cls(
            checklist=dict(obj["checklist"]),
            evidence=dict(obj.get("evidence", {})),
            refusal=obj["refusal"],
            failure_mode=obj["failure_mode"],
            support={k: int(v) for k, v in obj["support"].items()},
            level=int(obj["level"]),
        )


@dataclass(frozen=True, slots=True)
class Judgement:
    """One judge's outcome for one (item, reply): a verdict, or unscored with a reason."""

    item_id: str
    judge: str
    prompt_hash: str
    reply_hash: str
    verdict: Verdict | None
    unscored_reason: str | None = None
    attempts: int = 1
    raw: Sequence[str] = field(default_factory=tuple)  # the judge's texts: private
    # A call that failed (network, HTTP after retries): not an outcome, never cached; the
    # run stays incomplete and a re-run calls the judge again.
    error: str | None = None
    # The model id the judge's responses reported (API judges), which pins a judge without a
    # dated snapshot; None where the backend reports none.
    served_model: str | None = None

    @property
    def scored(self) -> bool:
        return self.verdict is not None

    @property
    def error_class(self) -> str | None:
        """Why there is no verdict, as a class name: the backend's error class for a failed
        call ("HTTPStatusError", "ConnectError"), "VerdictError" for a reply that did not
        parse (its `failure_summary` says "invalid_output: ..."); None when scored. Reported
        like generation failures are."""
        if self.error is not None:
            head = self.error.split(":", 1)[0].strip()
            return head if _ERROR_CLASS.fullmatch(head) else "BackendError"
        if self.verdict is None:
            return VerdictError.__name__
        return None

    @property
    def failure_summary(self) -> str | None:
        """One line for run summaries, e.g. "judge: HTTPStatusError: HTTP 500" or
        "invalid_output: support attribute 'safety' is NaN"; None when scored."""
        if self.error is not None:
            return f"judge: {self.error}"
        if self.verdict is None:
            reason = self.unscored_reason or "no verdict"
            return reason if reason.startswith(INVALID_OUTPUT) else f"{INVALID_OUTPUT}: {reason}"
        return None

    @property
    def final(self) -> bool:
        """Scored or unscored-with-reason: an outcome worth caching."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "judge": self.judge,
            "prompt_hash": self.prompt_hash,
            "reply_hash": self.reply_hash,
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "unscored_reason": self.unscored_reason,
            "attempts": self.attempts,
            "raw": list(self.raw),
            "error": self.error,
            "served_model": self.served_model,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Judgement:
        verdict = obj.get("verdict")
        return cls(
            item_id=obj["item_id"],
            judge=obj["judge"],
            prompt_hash=obj["prompt_hash"],
            reply_hash=obj["reply_hash"],
            verdict=None if verdict is None else Verdict.from_json(verdict),
            unscored_reason=obj.get("unscored_reason"),
            attempts=int(obj.get("attempts", 1)),
            raw=tuple(obj.get("raw", ())),
            error=obj.get("error"),
            served_model=obj.get("served_model"),
        )


@dataclass(frozen=True, slots=True)
class JudgeTask:
    item: Item
    reply: str

    @property
    def reply_hash(self) -> str:
        return hash_text(self.reply)


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


OnJudgement = Any  # Callable[[int, Judgement], None]; kept loose for Protocol variance


@runtime_checkable
class Judge(Protocol):
    """Scores replies against the checklist. `id` and `prompt_hash` pin it for caching."""

    @property
    def id(self) -> str: ...

    @property
    def prompt_hash(self) -> str: ...

    @property
    def family(self) -> str | None:
        """Model family (e.g. 'llama'), to flag a judge grading its own family."""
        ...

    @property
    def official(self) -> bool:
        """False for the heuristic judge: its results are never ranked with model judges'."""
        ...

    def judge(self, tasks: Sequence[JudgeTask], on_result: OnJudgement | None = None) -> list[Judgement]:
        """One Judgement per task, in order; `on_result(index, judgement)` as each finishes.
        Raises only if the judge cannot run at all; a failed call is a Judgement with `error`."""
        ...


class _NonFinite:
    """Stands for NaN, Infinity or a number too large for a float in the judge's JSON."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _parse_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text[:20])


def _parse_int(text: str) -> int | _NonFinite:
    # A thousand-digit "integer" is no score; int() of a longer one would raise.
    return int(text) if len(text) <= 20 else _NonFinite(text[:20] + "...")


# Python's json accepts NaN and Infinity by default; a verdict never may.
_DECODER: Final = json.JSONDecoder(parse_constant=_NonFinite, parse_float=_parse_float, parse_int=_parse_int)


def _non_finite(value: Any) -> _NonFinite | None:
    if isinstance(value, _NonFinite):
        return value
    if isinstance(value, dict):
        values: Any = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return None
    for inner in values:
        found = _non_finite(inner)
        if found is not None:
            return found
    return None


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every complete top-level JSON object in the text, in order (fences and prose around
    them ignored; objects nested inside another are part of it, not objects of their own)."""
    found: list[dict[str, Any]] = []
    index = 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return found
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, ValueError, RecursionError):
            index = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
        index = end


def last_json_object(text: str) -> Any:
    """The last complete top-level JSON object in the text (fences and prose around it ignored)."""
    objects = json_objects(text)
    return objects[-1] if objects else None


def _carries(obj: Mapping[str, Any], nonce: str) -> bool:
    value = obj.get("nonce")
    return isinstance(value, str) and value.strip().lower() == nonce


def verdict_object(text: str, nonce: str | None) -> Any:
    """The object the verdict is read from (PROTOCOL version 3, section 5): the last top-level
    object carrying this call's `nonce`. Objects without it, such as a fake verdict the
    evaluated reply carried and the judge echoed, are ignored, wherever they stand. With no
    nonce (a judge that sees no untrusted text, the heuristic) the last object.
    VerdictError when there is none."""
    objects = json_objects(text)
    if not objects:
        raise VerdictError("no JSON object in the judge's reply")
    if nonce is None:
        return objects[-1]
    signed = [obj for obj in objects if _carries(obj, nonce.lower())]
    if not signed:
        raise VerdictError(
            f'{INVALID_OUTPUT}: no JSON object carries this request\'s marker code in "nonce" '
            f"({len(objects)} without it)"
        )
    return signed[-1]


def parse_verdict(text: str, category: str, nonce: str | None = None) -> Verdict:
    """Validate the judge's reply strictly for an item of `category`; VerdictError if not.

    With `nonce` (the per-call code of the delimiters around the reply), only an object whose
    "nonce" is that code counts, the last such one; none is invalid output. Whatever the judge
    wrote, the outcome is a Verdict or a VerdictError (an unscored reason), never another
    exception that would stop the batch."""
    try:
        return _parse_verdict(text, category, nonce)
    except VerdictError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, AttributeError, KeyError) as exc:
        raise VerdictError(f"{INVALID_OUTPUT}: the verdict could not be read ({type(exc).__name__})") from None


def _parse_verdict(text: str, category: str, nonce: str | None) -> Verdict:
    obj = verdict_object(text, nonce)
    bad = _non_finite(obj)
    if bad is not None:
        raise VerdictError(f"{INVALID_OUTPUT}: the verdict holds a non-finite or out-of-range number ({bad!r})")
    checklist = obj.get("checklist")
    if not isinstance(checklist, dict):
        raise VerdictError("'checklist' is missing or not an object")
    answers: dict[str, str] = {}
    evidence: dict[str, str] = {}
    for question in questions_for(category):
        entry = checklist.get(question.id)
        if isinstance(entry, dict):
            answer = entry.get("answer")
            quote = entry.get("evidence", "")
        else:
            answer, quote = entry, ""
        if not isinstance(answer, str):
            raise VerdictError(f"checklist answer {question.id} is missing")
        answers[question.id] = answer.strip().lower()
        evidence[question.id] = quote[:MAX_EVIDENCE_CHARS] if isinstance(quote, str) else ""
    try:
        level = level_from_answers(category, answers)
    except ChecklistError as exc:
        raise VerdictError(str(exc)) from None

    refusal = obj.get("refusal")
    if refusal not in REFUSALS:
        raise VerdictError(f"'refusal' must be one of {', '.join(REFUSALS)}")
    failure_mode = obj.get("failure_mode")
    if failure_mode not in FAILURE_MODES:
        raise VerdictError("'failure_mode' is not a tag of the dialogue-safety taxonomy")
    support_raw = obj.get("support")
    if not isinstance(support_raw, dict):
        raise VerdictError("'support' is missing or not an object")
    support: dict[str, int] = {}
    for name in SUPPORT_ATTRIBUTES:
        value = support_raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or not 1 <= value <= 5:
            raise VerdictError(f"support attribute '{name}' must be an integer 1-5")
        support[name] = int(value)
    return Verdict(
        checklist=answers,
        evidence=evidence,
        refusal=refusal,
        failure_mode=failure_mode,
        support=support,
        level=level,
    )
