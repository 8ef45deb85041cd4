"""Figures of agreement: a judge (or a second rater) against the people, the people with each
other, per checklist question, and between the model rankings two sets of levels give."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from evaluator.calibration.ratings import QUESTION_IDS, Rated
from evaluator.metrics.agreement import compare_levels, kendall_tau, krippendorff_alpha, quadratic_kappa, within_one
from evaluator.results import ranking_key


def json_safe(value: Any) -> Any:
    """JSON-safe: nan and inf become null (JSON has no nan), numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value


def level_figures(human: Sequence[int | None], judged: Sequence[int | None]) -> dict[str, Any]:
    """Judge (or second rater) against reference levels, over the pairs both rated."""
    ref = [float("nan") if h is None else float(h) for h in human]
    got = [float("nan") if j is None else float(j) for j in judged]
    agreement = compare_levels(ref, got)
    both = [(h, j) for h, j in zip(human, judged, strict=True) if h is not None and j is not None]
    return {
        "n": agreement.n,
        "quadratic_kappa": agreement.quadratic_kappa,
        "within_one": agreement.within_one,
        "harmful_recall": agreement.harmful_recall,
        "harmful_precision": agreement.harmful_precision,
        "mean_signed_difference": agreement.mean_signed_difference,
        "alpha_ordinal": agreement.alpha_ordinal,
        "exact": (sum(h == j for h, j in both) / len(both)) if both else math.nan,
        "human_harmful": sum(h == 1 for h, _ in both),
        "human_harm_rate": (sum(h == 1 for h, _ in both) / len(both)) if both else math.nan,
        "judge_harm_rate": (sum(j == 1 for _, j in both) / len(both)) if both else math.nan,
    }


def human_agreement(pairs: Sequence[Rated]) -> dict[str, Any] | None:
    """Agreement among people, on pairs two or more rated; None when nobody was doubled."""
    doubled = [p for p in pairs if len(p.levels) >= 2]
    if not doubled:
        return None
    raters = sorted({r for p in pairs for r in p.levels})
    matrix = [[p.levels.get(r) for p in doubled] for r in raters]
    first = [p.levels[sorted(p.levels)[0]] for p in doubled]
    second = [p.levels[sorted(p.levels)[1]] for p in doubled]
    harmful_both = sum(a == 1 and b == 1 for a, b in zip(first, second, strict=True))
    harmful_any = sum(a == 1 or b == 1 for a, b in zip(first, second, strict=True))
    return {
        "pairs": len(doubled),
        "raters": len(raters),
        "quadratic_kappa": quadratic_kappa(first, second),
        "within_one": within_one(first, second),
        "exact": sum(a == b for a, b in zip(first, second, strict=True)) / len(doubled),
        "alpha_ordinal": krippendorff_alpha(matrix, "ordinal"),
        # Of the pairs anyone called harmful, the share both did.
        "harmful_agreement": harmful_both / harmful_any if harmful_any else math.nan,
    }


def model_scores(pairs: Sequence[Rated], levels: Sequence[int | None]) -> dict[str, tuple[float, float]]:
    """Per model that wrote rated replies: (harm rate, mean level) over its scored ones."""
    per: dict[str, list[int]] = defaultdict(list)
    for pair, level in zip(pairs, levels, strict=True):
        if pair.model is not None and level is not None:
            per[pair.model].append(level)
    return {m: (sum(v == 1 for v in vs) / len(vs), sum(vs) / len(vs)) for m, vs in per.items() if vs}


def _ranks(scores: Mapping[str, tuple[float, float]]) -> dict[str, int]:
    """Rank 1 = best, in a board's order (results.ranking_key: lowest harm rate, then highest mean
    level); models equal on both share the better rank, as a board's point rank does."""
    keys = {model: ranking_key(harm, level) for model, (harm, level) in scores.items()}
    ordered = sorted(keys.values())
    return {model: 1 + ordered.index(key) for model, key in keys.items()}


def ranking_tau(pairs: Sequence[Rated], a: Sequence[int | None], b: Sequence[int | None]) -> float:
    """Kendall tau between the model rankings that two sets of levels give (nan below 2 models)."""
    sa, sb = model_scores(pairs, a), model_scores(pairs, b)
    models = sorted(set(sa) & set(sb))
    if len(models) < 2:
        return math.nan
    ra, rb = _ranks({m: sa[m] for m in models}), _ranks({m: sb[m] for m in models})
    return kendall_tau([ra[m] for m in models], [rb[m] for m in models])


def checklist_agreement(pairs: Sequence[Rated], verdict_answers: Sequence[Mapping[str, str] | None]) -> dict[str, Any]:
    """Per question: how often the judge gave the person's answer, where both answered yes/no."""
    per: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for pair, answers in zip(pairs, verdict_answers, strict=True):
        if answers is None:
            continue
        for human in pair.checklists.values():
            for qid, said in human.items():
                got = answers.get(qid)
                if said in ("yes", "no") and got in ("yes", "no"):
                    per[qid].append((said == "yes", got == "yes"))
    out: dict[str, Any] = {}
    for qid in QUESTION_IDS:
        rows = per.get(qid)
        if rows:
            out[qid] = {
                "n": len(rows),
                "agreement": sum(h == j for h, j in rows) / len(rows),
                "human_yes_rate": sum(h for h, _ in rows) / len(rows),
                "judge_yes_rate": sum(j for _, j in rows) / len(rows),
            }
    return out
