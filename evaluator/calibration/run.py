"""One judge's calibration: judge every rated pair (through the cache), then the report's
figures, and the prompt-variant block when asked."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, Final

from evaluator.cache import CachingJudge
from evaluator.calibration.agreement import (
    checklist_agreement,
    human_agreement,
    json_safe,
    level_figures,
    model_scores,
    ranking_tau,
)
from evaluator.calibration.ratings import CalibrationError, Pair, Rated
from evaluator.calibration.variants import PARAPHRASES, VariantJudge, supports_variants
from evaluator.clock import now_iso
from evaluator.judge.panel import lower_median
from evaluator.judge.verdict import JudgeTask
from evaluator.metrics.agreement import quadratic_kappa
from evaluator.protocol.taxonomy import PROTOCOL_VERSION

DEFAULT_SAMPLE: Final = 100


class CalibrationIncomplete(RuntimeError):
    """Some judge calls failed (network, HTTP): no report; a re-run retries only those."""


def _judge_pairs(judge: Any, pairs: Sequence[Pair], cache: Any, progress: bool) -> dict[tuple[str, str], Any]:
    """The judge's Judgement per distinct (item, reply), through the judge cache (CachingJudge:
    the pipeline's keys, so a verdict the pipeline cached serves here and the other way round)."""
    unique: dict[tuple[str, str], Pair] = {}
    for pair in pairs:
        unique.setdefault(pair.judge_key, pair)
    keys = list(unique)
    found: dict[tuple[str, str], Any] = {}
    bar = _bar(progress, len(keys), f"judging ({judge.id})")

    def on_result(position: int, judgement: Any) -> None:
        found[keys[position]] = judgement
        bar.update()

    try:
        (judge if cache is None else CachingJudge(judge, cache)).judge(
            [JudgeTask(unique[k].item, unique[k].reply) for k in keys], on_result
        )
    finally:
        bar.close()
    return found


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(enabled: bool, total: int, desc: str) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pair", leave=False, dynamic_ncols=True)


def _levels(pairs: Sequence[Pair], judged: Mapping[tuple[str, str], Any]) -> list[int | None]:
    out: list[int | None] = []
    for pair in pairs:
        judgement = judged.get(pair.judge_key)
        out.append(judgement.verdict.level if judgement is not None and judgement.verdict is not None else None)
    return out


def _failed(judged: Mapping[tuple[str, str], Any], pairs: Sequence[Pair]) -> int:
    keys = {p.judge_key for p in pairs}
    return sum(1 for k in keys if k not in judged or not judged[k].final)


def _agreement_block(
    pairs: Sequence[Rated], judge_levels: Sequence[int | None], verdicts: Sequence[Mapping[str, str] | None]
) -> dict[str, Any]:
    human = [p.human_level for p in pairs]
    overall = level_figures(human, judge_levels)
    per_category: dict[str, Any] = {}
    for category in sorted({p.category for p in pairs}):
        chosen = [n for n, p in enumerate(pairs) if p.category == category]
        per_category[category] = level_figures([human[n] for n in chosen], [judge_levels[n] for n in chosen]) | {
            "pairs": len(chosen),
            "unscored": sum(judge_levels[n] is None for n in chosen),
        }
    raters = sorted({r for p in pairs for r in p.levels})
    per_rater = {
        f"rater_{number}": level_figures([p.levels.get(r) for p in pairs], judge_levels)
        for number, r in enumerate(raters, start=1)
    }
    block: dict[str, Any] = {
        "overall": overall,
        "per_category": per_category,
        "per_rater": per_rater,
    }
    checklist = checklist_agreement(pairs, verdicts)
    if checklist:
        block["checklist"] = checklist
    models = sorted({p.model for p in pairs if p.model is not None})
    if len(models) >= 2:
        human_scores, judge_scores = model_scores(pairs, human), model_scores(pairs, judge_levels)
        block["models"] = {
            "count": len(models),
            "kendall_tau_judge_vs_human": ranking_tau(pairs, human, judge_levels),
            "harm_rate": {
                m: {"human": human_scores.get(m, (math.nan,))[0], "judge": judge_scores.get(m, (math.nan,))[0]}
                for m in models
            },
        }
    return block


def _variant_block(
    judge: Any,
    pairs: Sequence[Pair],
    base_levels: Sequence[int | None],
    count: int,
    sample: int,
    seed: int,
    cache: Any,
    progress: bool,
) -> dict[str, Any]:
    if not supports_variants(judge):
        return {"applicable": False, "reason": "this judge reads no prompt, e.g. the heuristic judge"}
    if count > len(PARAPHRASES):
        raise CalibrationError(f"--variants is at most {len(PARAPHRASES)} (the paraphrases written so far)")
    positions = list(range(len(pairs)))
    if len(positions) > sample:
        positions = sorted(random.Random(seed).sample(positions, sample))
    chosen = [pairs[n] for n in positions]
    original = [base_levels[n] for n in positions]

    def summary(name: str, levels: Sequence[int | None]) -> dict[str, Any]:
        scored = [v for v in levels if v is not None]
        return {
            "variant": name,
            "scored": len(scored),
            "unscored": len(levels) - len(scored),
            "harm_rate": sum(v == 1 for v in scored) / len(scored) if scored else math.nan,
            "mean_level": sum(scored) / len(scored) if scored else math.nan,
            "quadratic_kappa_vs_original": quadratic_kappa(
                [math.nan if v is None else v for v in original], [math.nan if v is None else v for v in levels]
            ),
            "kendall_tau_vs_original": ranking_tau(chosen, original, levels),
        }

    rows = [summary("original", original)]
    for number in range(1, count + 1):
        variant = VariantJudge(judge, number, PARAPHRASES[number - 1])
        judged = _judge_pairs(variant, chosen, cache, progress)
        failed = _failed(judged, chosen)
        if failed:
            raise CalibrationIncomplete(
                f"{failed} judge calls failed for prompt variant {number}; run the same command again to retry them"
            )
        rows.append(summary(f"variant_{number}", _levels(chosen, judged)))
    rates = [r["harm_rate"] for r in rows if not math.isnan(r["harm_rate"])]
    taus = [r["kendall_tau_vs_original"] for r in rows[1:] if not math.isnan(r["kendall_tau_vs_original"])]
    models = {p.model for p in chosen if p.model is not None}
    return {
        "applicable": True,
        "sample": len(chosen),
        "seed": seed,
        "variants": rows,
        "harm_rate_spread": (max(rates) - min(rates)) if rates else math.nan,
        "harm_rate_max_shift": max((abs(r - rates[0]) for r in rates), default=math.nan) if rates else math.nan,
        "kendall_tau_min": min(taus) if taus else math.nan,
        "ranking_compared": len(models) >= 2,
    }


def calibrate(
    pairs: Sequence[Pair],
    judge: Any,
    *,
    cache: Any = None,
    variants: int = 0,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    progress: bool = False,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The calibration report of one judge (a Judge) on rated pairs: figures only.

    Judge calls go through `cache` (an evaluator.cache.Cache) when given, so a re-run, or
    a later run with more variants, only pays for what it has not judged yet.
    """
    return calibrate_levels(pairs, judge, cache, variants, sample, seed, progress, source)[0]


def calibrate_levels(
    pairs: Sequence[Pair],
    judge: Any,
    cache: Any,
    variants: int,
    sample: int,
    seed: int,
    progress: bool,
    source: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[int | None]]:
    """calibrate's report (JSON-safe), with the judge's level per pair (None: unscored)."""
    judged = _judge_pairs(judge, pairs, cache, progress)
    failed = _failed(judged, pairs)
    if failed:
        raise CalibrationIncomplete(f"{failed} judge calls failed; run the same command again to retry them")
    levels = _levels(pairs, judged)
    verdicts = [
        (j.verdict.checklist if (j := judged.get(p.judge_key)) is not None and j.verdict is not None else None)
        for p in pairs
    ]
    report = build_report(judge.id, judge.prompt_hash, bool(judge.official), pairs, levels, verdicts, source)
    if variants:
        report["prompt_variants"] = _variant_block(judge, pairs, levels, variants, sample, seed, cache, progress)
    return json_safe(report), levels


def build_report(
    judge_id: str,
    prompt_hash: str,
    official: bool,
    pairs: Sequence[Rated],
    levels: Sequence[int | None],
    verdicts: Sequence[Mapping[str, str] | None],
    source: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The report of one judge, or of a panel (its levels the panel's), before json_safe."""
    return {
        "kind": "judge-calibration",
        "created_at": now_iso(),
        "judge": judge_id,
        "prompt_hash": prompt_hash,
        "official": official,
        "protocol_version": PROTOCOL_VERSION,
        "source": dict(source or {}),
        "pairs": len(pairs),
        "ratings": sum(len(p.levels) for p in pairs),
        "raters": len({r for p in pairs for r in p.levels}),
        "unscored": sum(v is None for v in levels),
        "reference": "per pair, the lower median of the people's levels (ties to the more severe)",
        **_agreement_block(pairs, levels, verdicts),
        "human_human": human_agreement(pairs),
    }


def panel_levels(pairs: Sequence[Pair], reports_levels: Mapping[str, Sequence[int | None]]) -> list[int | None]:
    """Per pair, the panel level: lower median of the judges that scored it (PROTOCOL section 5)."""
    out: list[int | None] = []
    for n in range(len(pairs)):
        scored = [levels[n] for levels in reports_levels.values() if levels[n] is not None]
        out.append(lower_median([v for v in scored if v is not None]) if scored else None)
    return out
