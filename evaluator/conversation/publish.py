"""A finished conversation run's public output: result rows (track `conversation`) and, for a
public persona set only, transcripts.

The rows are staged in the private run directory and renamed into results/ as the single-turn
publish stage does (evaluator.pipeline.publish), after a secrecy audit that also covers this
run's own private personas; transcripts are audited with them and written before the rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from evaluator.audit import AUDIT_REFUSED, Finding, check_staged
from evaluator.backends import GenerationParams, ModelInfo
from evaluator.conversation.dialogue import Dialogue
from evaluator.conversation.figures import ConversationScore, compute_conversation_rows
from evaluator.conversation.judging import ConversationJudge
from evaluator.conversation.persona import PersonaSet
from evaluator.conversation.records import ConversationOutcome, finish
from evaluator.conversation.simulator import Simulator
from evaluator.judge.llm import JUDGE_PARAMS
from evaluator.judge.panel import AggregatedJudgement, panel_alpha, same_family
from evaluator.judge.verdict import Judge, Judgement
from evaluator.pipeline.publish import place_rows, stage_rows
from evaluator.protocol.taxonomy import PROTOCOL_VERSION
from evaluator.results import CONVERSATION, RESULT_COLUMNS
from evaluator.storage import DataDir, RunSink, atomic_write_bytes

Scored = list[tuple[ConversationScore, list[AggregatedJudgement | None]]]


def result_rows(
    scores: list[ConversationScore],
    turn_judgements: dict[str, dict[str, Judgement]],
    run_id: str,
    created_at: str,
    *,
    info: ModelInfo,
    personas: PersonaSet,
    params: GenerationParams,
    judges: Sequence[Judge],
    conversation_judges: Sequence[ConversationJudge],
    simulator: Simulator,
) -> list[dict[str, Any]]:
    """The run's result rows, every result column in order."""
    model_judges = [j for j in judges if getattr(j, "backend", None) is not None]
    identity: dict[str, Any] = {
        "model": info.model,
        "revision": info.revision,
        "model_type": info.model_type,
        "set_name": personas.name,
        "set_version": personas.version,
        "judge": "+".join(j.id for j in judges),
        "protocol_version": PROTOCOL_VERSION,
        "run_id": run_id,
        "evaluated_at": datetime.fromisoformat(created_at),
        "track": CONVERSATION,
        "judge_prompt_hash": "+".join(
            f"{j.prompt_hash}/{c.prompt_hash}" for j, c in zip(judges, conversation_judges, strict=True)
        ),
        "judge_official": all(j.official for j in judges),
        "judge_alpha": panel_alpha(turn_judgements) if len(judges) > 1 else None,
        "judge_same_family": any(same_family(j.family, info.model) for j in judges),
        "judge_temperature": JUDGE_PARAMS.temperature if model_judges else None,
        "judge_max_tokens": JUDGE_PARAMS.max_new_tokens if model_judges else None,
        "model_spec": info.spec,
        "generation_params": json.dumps(params.to_json(), sort_keys=True),
        "simulator": simulator.id,
        "simulator_prompt_hash": simulator.prompt_hash,
    }
    rows = compute_conversation_rows(scores, identity)
    columns = set(RESULT_COLUMNS)
    for row in rows:
        unknown = sorted(set(row) - columns)
        if unknown:
            raise ValueError(f"conversation row keys that are not result columns: {', '.join(unknown)}")
    return [{c: row.get(c) for c in RESULT_COLUMNS} for row in rows]


def publish(
    sink: RunSink,
    run_dir: Path,
    run_id: str,
    model: str,
    personas: PersonaSet,
    rows: list[dict[str, Any]],
    dialogues: list[Dialogue],
    scored: Scored,
) -> ConversationOutcome:
    """Audit and publish the rows (and a public set's transcripts) through the run's sink, which
    commits them at `sink.publish()`; the outcome, also in status.json."""
    data = sink.data
    staged = stage_rows(run_dir, rows)
    to_scan = [staged]
    transcripts: bytes | None = None
    if personas.is_public:
        transcripts = _transcripts(run_id, model, personas, dialogues, scored)
        staged_t = run_dir / "transcripts.staged.jsonl"
        atomic_write_bytes(staged_t, transcripts)
        to_scan.append(staged_t)
    sink.before_audit()  # every private set in `data`, wherever the run happens
    findings = audit(data, personas, to_scan)
    if findings:
        ids = ", ".join(sorted({f.item_id for f in findings})[:5])
        reason = f"secrecy audit refused to publish: the rows contain text of private personas or items ({ids})"
        refused = ConversationOutcome("incomplete", run_id, [], reason=reason, error_class=AUDIT_REFUSED)
        return finish(sink, run_dir, refused)
    transcripts_file = None
    if transcripts is not None:
        transcripts_file = sink.place(staged_t, transcripts_path(data, run_id))
    result_file = place_rows(sink, run_id, staged)
    stats = {
        "conversations": len(dialogues),
        "unscored": sum(1 for s, _ in scored if not s.scored),
        "model_turns": sum(d.model_turns for d in dialogues),
    }
    outcome = ConversationOutcome(
        "complete", run_id, rows, result_file=result_file, transcripts_file=transcripts_file, stats=stats
    )
    return finish(sink, run_dir, outcome)


def audit(data: DataDir, personas: PersonaSet, staged: Sequence[Path]) -> list[Finding]:
    """Scan staged public files against every private item and persona, this run's own
    private persona set included when it lives outside <data>/sets."""
    own = () if personas.is_public else ((p.id, p.texts()) for p in personas.personas)
    return check_staged(data, staged, personas.name, own)


def transcripts_path(data: DataDir, run_id: str) -> Path:
    return data.transcripts / f"{run_id}.jsonl"


def _transcripts(
    run_id: str,
    model: str,
    personas: PersonaSet,
    dialogues: list[Dialogue],
    scored: Scored,
) -> bytes:
    """Transcripts of a PUBLIC persona set, with each model turn's level and the verdicts."""
    assert personas.is_public
    lines = []
    for dialogue, (score, aggregated) in zip(dialogues, scored, strict=True):
        persona = dialogue.persona
        turns = []
        model_turn = 0
        for turn in dialogue.turns:
            entry: dict[str, Any] = {"role": turn["role"], "content": turn["content"]}
            if turn["role"] == "assistant":
                model_turn += 1
                agg = aggregated[model_turn - 1]
                entry["level"] = None if agg is None else agg.level
                entry["refusal"] = None if agg is None else agg.refusal
            turns.append(entry)
        lines.append(
            {
                "model": model,
                "run_id": run_id,
                "set_visibility": "public",
                "set_name": personas.name,
                "set_version": personas.version,
                "persona_id": persona.id,
                "category": persona.category,
                "risk": persona.risk,
                "disclosure": persona.disclosure,
                "age_group": persona.age_group,
                "risk_visible_turn": persona.risk_visible_turn,
                "left_at": dialogue.left_at,
                "turns": turns,
                "worst_level": score.worst_level,
                "answers": None if score.answers is None else dict(score.answers.answers),
                "first_question_turn": None if score.answers is None else score.answers.first_question_turn,
                "refusal_turn": score.refusal_turn,
                "stayed": score.stayed,
                "scored": score.scored,
            }
        )
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)
