"""The score stage: from the record's replies and judgements to result rows.

Error accounting (a failed generation or judgement leaves the run incomplete, to retry),
the judge-model pin (a run whose judge answered as two models is stopped), the per-item
scores, the identity columns and the run-level figures. Nothing here calls a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evaluator.backends import ModelInfo, Reply
from evaluator.backends.replay import recorded_generation
from evaluator.items import Item, ItemSet
from evaluator.judge.panel import aggregate, panel_alpha, same_family
from evaluator.judge.verdict import Judge, Judgement
from evaluator.metrics.detection import detection_report
from evaluator.metrics.scoring import ScoredItem, compute_rows
from evaluator.pipeline.config import RunConfig, RunOutcome, sampled
from evaluator.pipeline.record import Judgements, RunRecord, Task
from evaluator.protocol.detection import parse_detection
from evaluator.protocol.taxonomy import CATEGORIES, PROTOCOL_VERSION
from evaluator.results import OVERALL, SINGLE_TURN


@dataclass(frozen=True)
class Scores:
    """A scored run, ready to publish."""

    rows: list[dict[str, Any]]
    scored: list[ScoredItem]
    stats: dict[str, Any]


def score(
    record: RunRecord,
    config: RunConfig,
    info: ModelInfo,
    judges: Sequence[Judge],
    replies: dict[Task, Reply],
    judgements: Judgements,
    created_at: str,
) -> Scores | RunOutcome:
    """The rows, or the outcome (stopped, incomplete, unscored) that says why there are none;
    such an outcome is already written to the record's status."""
    run_id = record.run_id
    item_set = config.item_set
    runs, origin = sampled(item_set, config.samples)
    served = _served_models(runs, judgements, judges)
    mixed = {judge: ids for judge, ids in served.items() if len(ids) > 1}
    if mixed:
        judge, models = next(iter(mixed.items()))
        reason = (
            f"judge {judge} answered as {' and as '.join(repr(m) for m in sorted(models))} across this run's "
            "judgements; stopped rather than mix two judge models (pin a dated snapshot)"
        )
        return record.finish(RunOutcome("stopped", run_id, [], reason=reason))

    gen_errors = sum(1 for r in replies.values() if not r.ok)
    judge_errors = sum(
        1
        for item in runs.items
        if (r := replies.get(("reply", item.id))) is not None and r.ok
        for j in judges
        if (got := judgements.get(item.id, {}).get(j.id)) is None or not got.final
    )
    errors = gen_errors + judge_errors
    failures = _judge_failures(runs, replies, judgements, judges)
    stats: dict[str, Any] = {
        "generation_errors": gen_errors,
        "judge_errors": judge_errors,
        "items": len(item_set.items),
        "judge_failures": failures,
    }
    if errors:
        causes = sorted({(r.error or "").split(":")[0] for r in replies.values() if not r.ok})
        reason = (
            f"{gen_errors} generation and {judge_errors} judge calls failed"
            + (f" ({', '.join(causes)})" if causes else "")
            + (f"; judge: {counted(failures)}" if failures else "")
            + "; run the same command again to retry them"
        )
        return record.finish(RunOutcome("incomplete", run_id, [], errors=errors, reason=reason, stats=stats))

    scored = score_items(runs, origin, replies, judgements, judges, config.detection)
    if not any(s.level is not None for s in scored):
        # A judge answering junk must not publish an "official" n = 0 row or finish the request.
        error_class = max(failures, key=lambda k: failures[k]) if failures else "Unscored"
        reason = (
            f"nothing was scored: no judge verdict could be used for any of the {len(scored)} items"
            + (f" ({counted(failures)})" if failures else "")
            + "; nothing was published"
        )
        stats["unscored"] = len(scored)
        return record.finish(
            RunOutcome("unscored", run_id, [], errors=len(scored), reason=reason, stats=stats, error_class=error_class),
        )
    official = all(j.official for j in judges)
    alpha = panel_alpha({j.id: {i: per[j.id] for i, per in judgements.items() if j.id in per} for j in judges})
    identity: dict[str, Any] = {
        "model": info.model,
        "revision": info.revision,
        "model_type": info.model_type,
        "set_name": item_set.name,
        "set_version": item_set.version,
        "judge": "+".join(j.id for j in judges),
        "protocol_version": PROTOCOL_VERSION,
        "run_id": run_id,
        "evaluated_at": datetime.fromisoformat(created_at),
        "judge_prompt_hash": "+".join(j.prompt_hash for j in judges),
        "judge_official": official,
        "judge_alpha": alpha if len(judges) > 1 else None,
        "judge_same_family": any(same_family(j.family, info.model) for j in judges),
        "model_spec": info.spec,
        "generation_params": json.dumps(recorded_generation(info.model_type, config.params), sort_keys=True),
        "track": SINGLE_TURN,
        **judge_settings(judges),
        "judge_served_model": "+".join(next(iter(served[j.id]), "") for j in judges) if any(served.values()) else None,
    }
    rows = compute_rows(scored, identity, rounds=config.bootstrap_rounds, seed=config.seed)
    _add_run_figures(rows, scored, replies)
    return Scores(rows, scored, stats)


def _served_models(item_set: ItemSet, judgements: Judgements, judges: Sequence[Judge]) -> dict[str, set[str]]:
    """Per judge id, the model ids its verdicts for this run report (cached ones included)."""
    out: dict[str, set[str]] = {j.id: set() for j in judges}
    for item in item_set.items:
        for judge_id, judgement in judgements.get(item.id, {}).items():
            if judge_id in out and judgement.final and judgement.served_model:
                out[judge_id].add(judgement.served_model)
    return out


def judge_settings(judges: Sequence[Judge]) -> dict[str, Any]:
    """The `judge_temperature` and `judge_max_tokens` columns (PROTOCOL section 8, v3).

    A judge that generates nothing (the heuristic) has no settings and adds nothing; a panel
    whose model judges agree records their settings, one whose judges differ records null
    (each judge's settings are still pinned in its prompt hash)."""
    settings = {
        (float(t), int(m))
        for j in judges
        if (t := getattr(j, "temperature", None)) is not None and (m := getattr(j, "max_tokens", None)) is not None
    }
    temperature, max_tokens = next(iter(settings)) if len(settings) == 1 else (None, None)
    return {"judge_temperature": temperature, "judge_max_tokens": max_tokens}


def _add_run_figures(rows: list[dict[str, Any]], scored: list[ScoredItem], replies: dict[Task, Reply]) -> None:
    """Overall-row figures that come from the run rather than from per-item scores."""
    overall = next(r for r in rows if r["category"] == OVERALL)
    detected = [s for s in scored if s.detection_done]
    if detected:
        report = detection_report([s.category for s in detected], [s.detected for s in detected])
        overall["detection_confusion"] = json.dumps(
            {"labels": list(CATEGORIES), "matrix": report.confusion.astype(int).tolist()}
        )
    prompt = sum(r.prompt_tokens or 0 for r in replies.values())
    completion = sum(r.completion_tokens or 0 for r in replies.values())
    overall.update(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def failure_class(judgement: Judgement) -> str | None:
    """Why a judgement has no verdict, as an error class; None when it has one."""
    if judgement.scored:
        return None
    named = getattr(judgement, "error_class", None)
    if isinstance(named, str) and named:
        return named
    if judgement.error is not None:
        head = judgement.error.split(":", 1)[0].strip()
        return head if head.isidentifier() else "JudgeCallError"
    return "VerdictError"  # a reply that did not parse (the judge's unscored reason)


def _judge_failures(
    item_set: ItemSet, replies: dict[Task, Reply], judgements: Judgements, judges: Sequence[Judge]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in item_set.items:
        reply = replies.get(("reply", item.id))
        if reply is None or not reply.ok:
            continue
        for judge in judges:
            got = judgements.get(item.id, {}).get(judge.id)
            cls = "NoVerdict" if got is None else failure_class(got)
            if cls is not None:
                counts[cls] = counts.get(cls, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {cls}" for cls, n in counts.items())


def score_items(
    runs: ItemSet,
    origin: dict[str, tuple[Item, int]],
    replies: dict[Task, Reply],
    judgements: Judgements,
    judges: Sequence[Judge],
    detection: bool,
) -> list[ScoredItem]:
    """One ScoredItem per reply, named by its item (the cluster of its samples); the crisis
    detection answer is asked once per item and goes with sample 0."""
    scored: list[ScoredItem] = []
    for run_item in runs.items:
        item, k = origin[run_item.id]
        per_judge = [judgements[run_item.id][j.id] for j in judges if j.id in judgements.get(run_item.id, {})]
        agg = aggregate(per_judge, item.category, item.track)
        detect_reply = replies.get(("detect", item.id)) if k == 0 else None
        level = agg.level if agg is not None else None
        scored.append(
            ScoredItem(
                item_id=item.id,
                category=item.category,
                signal=item.signal,
                track=item.track,
                domain=item.domain,
                level=level,
                derived=agg.derived if agg is not None else None,
                refusal=agg.refusal if agg is not None else None,
                support=agg.support if agg is not None else None,
                detected=parse_detection(detect_reply.text) if detect_reply is not None else None,
                detection_done=detection and detect_reply is not None,
            )
        )
    return scored
