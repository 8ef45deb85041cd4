"""Calibration of the conversation questions (PROTOCOL section 9): a judge's C1-C5 against people's.

Ratings file: JSONL (one object per line) or CSV (header row; object columns as JSON text), one
rating of one conversation per line:

    persona     the persona (a section 9 object), or persona_id: an id of --personas
    turns       the conversation, [{"role": "user"|"assistant", "content": ...}, ...], from the
                person's opening on; it may end with the person's last message when they left
    left        optional: true when the person left the conversation
    answers     the person's {"C1": "best"|"suboptimal"|"harmful"|"n/a", ..., "C5": ...}: all five,
                n/a only where section 9 allows it (the same rules as a judge's verdict)
    first_question_turn  optional: the assistant turn that first asked directly about the risk
    rater, model         as in the single-turn file; `conversation` is a label, never read

A file is a conversation file when its first rating has `answers`.

The figures are the single-turn ones, read per question: each (conversation, question) is a rated
unit whose level is its answer's severity, harmful 1, suboptimal 2, best 3 (n/a has none).
Quadratic-weighted kappa does not change when unused levels are added to the scale (they add
nothing to the observed or the chance disagreement, and the weights' scale cancels), so the 1-5
kappa of evaluator.metrics is exactly the three-level kappa here; recall on level 1 is Red recall,
exact agreement is accuracy, and a positive mean signed difference is a more lenient judge. The
reference for a conversation rated by several people is their answers combined as a judge
panel's are (judging.aggregate_answers: the median severity, ties to the more severe; n/a only by
a strict majority). The judge answers through its conversation version (the model judge's C1-C5
prompt, or the offline rules) and the judge cache.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from evaluator.calibration.agreement import json_safe, level_figures
from evaluator.calibration.ratings import CalibrationError, json_field, note_rating, rater_and_model, read_rows
from evaluator.calibration.run import CalibrationIncomplete, build_report
from evaluator.conversation.dialogue import Dialogue
from evaluator.conversation.judging import (
    CachingConversationJudge,
    ConversationJudge,
    ConversationVerdictError,
    aggregate_answers,
    conversation_judge_for,
    read_answers,
    transcript_hash,
)
from evaluator.conversation.offline import QUESTIONS, ConversationAnswers
from evaluator.conversation.persona import MAX_TURNS_LIMIT, Persona, PersonaError, PersonaSet, persona_from_json

SEVERITY_LEVEL: Final[dict[str, int]] = {"harmful": 1, "suboptimal": 2, "best": 3}
MAX_TURN_CHARS: Final = 32_000
REFERENCE: Final = (
    "per conversation and question, the people's answers combined as a judge panel's "
    "(median severity, ties to the more severe; n/a only by a strict majority)"
)


@dataclass
class RatedConversation:
    """One conversation that people rated, with every rating it got."""

    dialogue: Dialogue
    model: str | None
    ratings: dict[str, ConversationAnswers] = field(default_factory=dict)  # rater -> answers

    @property
    def key(self) -> str:
        return transcript_hash(self.dialogue)

    @property
    def reference(self) -> ConversationAnswers:
        return aggregate_answers(list(self.ratings.values()))


@dataclass(frozen=True)
class QuestionUnit:
    """One question of one rated conversation, read by the agreement code like a rated pair."""

    question: str
    category: str
    model: str | None
    levels: Mapping[str, int | None]  # rater -> coded answer (None: n/a)
    human_level: int | None
    checklists: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def code(answers: ConversationAnswers | None, question: str) -> int | None:
    """An answer as a level (harmful 1, suboptimal 2, best 3); None for n/a or no answers."""
    return None if answers is None else SEVERITY_LEVEL.get(answers.answers[question])


def is_conversation_file(path: str | Path) -> bool:
    """Whether a ratings file rates conversations: its first rating has `answers`."""
    for _, row in read_rows(Path(path)):
        return "answers" in row
    raise CalibrationError(f"{path}: holds no ratings")


def _persona(row: Mapping[str, Any], where: str, source: str, line: int, personas: PersonaSet | None) -> Persona:
    if row.get("persona") is not None:
        try:
            return persona_from_json(json_field(row["persona"], where, "persona"), source=source, line=line)
        except PersonaError as exc:
            raise CalibrationError(str(exc)) from None
    persona_id = row.get("persona_id")
    if persona_id is None:
        raise CalibrationError(f"{where}: no persona: give persona_id (with --personas) or the persona object")
    if personas is None:
        raise CalibrationError(f"{where}: field 'persona_id': needs --personas to resolve persona ids")
    found = next((p for p in personas.personas if p.id == str(persona_id)), None)
    if found is None:
        raise CalibrationError(f"{where}: field 'persona_id': {str(persona_id)[:80]!r} is not in {personas.name}")
    return found


def _dialogue(row: Mapping[str, Any], where: str, persona: Persona) -> Dialogue:
    turns = json_field(row.get("turns"), where, "turns")
    if not isinstance(turns, list) or not 2 <= len(turns) <= 2 * MAX_TURNS_LIMIT:
        raise CalibrationError(f"{where}: field 'turns': a list of 2 to {2 * MAX_TURNS_LIMIT} messages")
    clean: list[dict[str, str]] = []
    for number, turn in enumerate(turns, start=1):
        role = "user" if number % 2 else "assistant"
        content = turn.get("content") if isinstance(turn, dict) else None
        if not isinstance(turn, dict) or turn.get("role") != role:
            raise CalibrationError(f"{where}: field 'turns': message {number} must have role '{role}'")
        if not isinstance(content, str) or not content.strip() or len(content) > MAX_TURN_CHARS:
            raise CalibrationError(
                f"{where}: field 'turns': message {number} needs content of 1-{MAX_TURN_CHARS:,} characters"
            )
        clean.append({"role": role, "content": content})
    left = row.get("left", False)
    if not isinstance(left, bool) and str(left).strip().lower() not in ("true", "false"):
        raise CalibrationError(f"{where}: field 'left': true or false")
    left = left if isinstance(left, bool) else str(left).strip().lower() == "true"
    if clean[-1]["role"] == "user" and not left:
        raise CalibrationError(f"{where}: field 'turns': ends with the person's message, but 'left' is not true")
    users = sum(t["role"] == "user" for t in clean)
    left_at = (users if clean[-1]["role"] == "user" else users + 1) if left else None
    return Dialogue(persona, max(persona.max_turns, users), clean, left_at)


def load_conversation_ratings(path: str | Path, personas: PersonaSet | None = None) -> list[RatedConversation]:
    """Read a conversation ratings file; CalibrationError naming the line and the field, never quoting text."""
    p = Path(path)
    rated: dict[tuple[str, str | None], RatedConversation] = {}
    first_line: dict[tuple[tuple[str, str | None], str], int] = {}
    for number, row in read_rows(p):
        where = f"{p.name} line {number}"
        if "answers" not in row:
            raise CalibrationError(f"{where}: field 'answers': missing (a conversation file rates every line)")
        dialogue = _dialogue(row, where, _persona(row, where, p.name, number, personas))
        first = row.get("first_question_turn")
        if isinstance(first, str):
            first = None if first.strip().lower() in ("", "null", "none") else json_field(first, where, "first")
        try:
            answers = read_answers(json_field(row["answers"], where, "answers"), first, dialogue)
        except ConversationVerdictError as exc:
            raise CalibrationError(f"{where}: {exc}") from None
        rater, model = rater_and_model(row)
        conversation = RatedConversation(dialogue, model)
        key = (conversation.key, model)
        conversation = rated.setdefault(key, conversation)
        note_rating(first_line, key, rater, number, where, "conversation")
        conversation.ratings[rater] = answers
    if not rated:
        raise CalibrationError(f"{p}: holds no ratings")
    return list(rated.values())


def question_units(rated: Sequence[RatedConversation]) -> list[QuestionUnit]:
    """Every (conversation, question), conversation by conversation, C1 to C5."""
    units = []
    for conversation in rated:
        reference = conversation.reference
        for question in QUESTIONS:
            units.append(
                QuestionUnit(
                    question,
                    conversation.dialogue.persona.category,
                    conversation.model,
                    {rater: code(answers, question) for rater, answers in conversation.ratings.items()},
                    code(reference, question),
                )
            )
    return units


def _first_question(
    rated: Sequence[RatedConversation], outcomes: Sequence[ConversationAnswers | None]
) -> dict[str, Any]:
    """How often the judge named the people's first direct question (both never asked: agreed)."""
    pairs = zip(rated, outcomes, strict=True)
    both = [(c.reference.first_question_turn, o.first_question_turn) for c, o in pairs if o is not None]
    return {"n": len(both), "exact": sum(h == j for h, j in both) / len(both) if both else math.nan}


def build_conversation_report(
    judge_id: str,
    prompt_hash: str,
    official: bool,
    rated: Sequence[RatedConversation],
    outcomes: Sequence[ConversationAnswers | None],
    source: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The report of one judge (or a panel) on rated conversations: the single-turn report's
    blocks over the question units (overall pools the five questions), and per question."""
    units = question_units(rated)
    judged = [code(outcomes[n // len(QUESTIONS)], unit.question) for n, unit in enumerate(units)]
    report = build_report(judge_id, prompt_hash, official, units, judged, [None] * len(units), source)
    for category, figures in report["per_category"].items():
        # A judge's n/a is no level either: count only the questions of unscored conversations.
        figures["unscored"] = sum(
            outcomes[n // len(QUESTIONS)] is None for n, u in enumerate(units) if u.category == category
        )
    per_question: dict[str, Any] = {}
    for question in QUESTIONS:
        chosen = [n for n, u in enumerate(units) if u.question == question]
        scored = [n for n in chosen if outcomes[n // len(QUESTIONS)] is not None]
        per_question[question] = level_figures([units[n].human_level for n in chosen], [judged[n] for n in chosen]) | {
            # One side n/a and the other not: the figures above leave these out.
            "n_a_disagreements": sum((units[n].human_level is None) != (judged[n] is None) for n in scored),
        }
    return report | {
        "track": "conversation",
        "pairs": len(rated),
        "ratings": sum(len(c.ratings) for c in rated),
        "unscored": sum(o is None for o in outcomes),
        "reference": REFERENCE,
        "per_question": per_question,
        "first_question_turn": _first_question(rated, outcomes),
    }


def calibrate_conversations(
    rated: Sequence[RatedConversation],
    judge: Any,
    cache: Any,
    variants: int,
    progress: bool,
    source: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[ConversationAnswers | None]]:
    """The calibration report (JSON-safe) of one judge (a Judge) on rated conversations, with its
    answers per conversation (None: unscored). Judge calls go through `cache` when given."""
    asked: ConversationJudge = conversation_judge_for(judge)
    if cache is not None:
        asked = CachingConversationJudge(asked, cache)
    unique = {c.key: c.dialogue for c in rated}
    verdicts = dict(zip(unique, asked.judge(list(unique.values())), strict=True))
    failed = sum(not v.final for v in verdicts.values())
    if failed:
        raise CalibrationIncomplete(f"{failed} judge calls failed; run the same command again to retry them")
    outcomes = [verdicts[c.key].outcome for c in rated]
    report = build_conversation_report(judge.id, asked.prompt_hash, bool(judge.official), rated, outcomes, source)
    if variants:
        report["prompt_variants"] = {
            "applicable": False,
            "reason": "prompt variants reword the checklist prompt, not the conversation questions",
        }
    return json_safe(report), outcomes


def panel_outcomes(
    rated: Sequence[RatedConversation], by_judge: Mapping[str, Sequence[ConversationAnswers | None]]
) -> list[ConversationAnswers | None]:
    """Per conversation, the panel's answers (aggregate_answers over the judges that scored it)."""
    out: list[ConversationAnswers | None] = []
    for n in range(len(rated)):
        scored = [o[n] for o in by_judge.values() if o[n] is not None]
        out.append(aggregate_answers([o for o in scored if o is not None]) if scored else None)
    return out
