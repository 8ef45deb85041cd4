"""Saved calibration reports (figures only, under <data>/public/calibration/), the offline
judge's shipped figures, and the report as a table for the terminal."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from evaluator.calibration.agreement import json_safe, level_figures
from evaluator.calibration.conversations import calibrate_conversations, load_conversation_ratings
from evaluator.calibration.ratings import CalibrationError, load_ratings, read_rows
from evaluator.calibration.run import DEFAULT_SAMPLE, calibrate_levels
from evaluator.conversation.persona import PUBLIC_PERSONAS_PATH, load_persona_set
from evaluator.judge import HeuristicJudge
from evaluator.storage import DataDir, atomic_create_json, read_json_objects
from evaluator.wording import num, pct, text_table

CALIBRATION_DIR: Final = "calibration"
_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


def calibration_dir(data: DataDir) -> Path:
    """Where saved reports live: public, since they hold figures only."""
    return data.public / CALIBRATION_DIR


def save_calibration(data: DataDir, report: Mapping[str, Any]) -> Path:
    """Write the report to <data>/public/calibration/<judge>-<timestamp>.json (never overwriting)."""
    stamp = datetime.fromisoformat(str(report["created_at"])).strftime("%Y%m%dT%H%M%SZ")
    base = _SAFE_NAME.sub("_", str(report["judge"])).strip("._") or "judge"
    folder = calibration_dir(data)
    for attempt in range(1, 1000):
        path = folder / (f"{base}-{stamp}.json" if attempt == 1 else f"{base}-{stamp}-{attempt}.json")
        try:
            atomic_create_json(path, dict(report))
        except FileExistsError:
            continue
        return path
    raise CalibrationError(f"too many calibration reports for {base} at {stamp}")


def calibration_reports(data: DataDir) -> list[dict[str, Any]]:
    """Every saved report, oldest first."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for path, value in read_json_objects(calibration_dir(data)):
        if value.get("kind") == "judge-calibration":
            out.append((str(value.get("created_at", "")), path.name, value | {"file": path.name}))
    return [v for _, _, v in sorted(out, key=lambda t: (t[0], t[1]))]


def latest_calibration(
    data: DataDir, judge: str | None = None, *, official: bool | None = None, track: str = "single_turn"
) -> dict[str, Any] | None:
    """The newest calibration report of a track (`single_turn`: the checklist levels;
    `conversation`: C1-C5), optionally of one judge id or only official judges.

    The About page shows `latest_calibration(data, official=True)`, or the report of the
    judge the results were made with.
    """
    reports = [
        r
        for r in calibration_reports(data)
        if (judge is None or r.get("judge") == judge)
        and (official is None or bool(r.get("official")) == official)
        and r.get("track", "single_turn") == track
    ]
    return reports[-1] if reports else None


# ---------------------------------------------------------------- the offline judge's shipped figures

SHIPPED_DIR: Final = Path(__file__).resolve().parent.parent / "calibration_sets"  # evaluator/calibration_sets
# The first file's replies were written from the same parts as the heuristic's rules: an
# upper bound. The second's were written in the style of outside chat models and rated
# before the rules were tuned on half of it: the more honest of the two.
SHIPPED_RATINGS: Final[tuple[tuple[str, str], ...]] = (
    ("heuristic-ratings.jsonl", "same parts as the rules (upper bound)"),
    ("heuristic-ratings-outside-style.jsonl", "outside chat-model style, rated before tuning"),
)
# Conversations written and rated by the same team as the offline conversation rules, from the
# public personas' scripts, rated before any judge ran on them: an upper bound too.
SHIPPED_CONVERSATION_RATINGS: Final[tuple[tuple[str, str], ...]] = (
    ("conversation-ratings.jsonl", "same team as the offline rules, public personas' scripts (upper bound)"),
)
SHIPPED_SUMMARY: Final = SHIPPED_DIR / "heuristic-calibration.json"
_SUMMARY_FIGURES: Final = (
    "n",
    "within_one",
    "exact",
    "quadratic_kappa",
    "harmful_recall",
    "harmful_precision",
    "mean_signed_difference",
)


def heuristic_calibration_summary(folder: Path = SHIPPED_DIR) -> dict[str, Any]:
    """The offline heuristic judge against the shipped ratings files: overall, per split
    (`tune`, `held_out`) and the per-category leniency. Figures only, no text."""
    judge = HeuristicJudge()
    files = []
    for name, role in SHIPPED_RATINGS:
        path = folder / name
        pairs = load_ratings(path)
        split_of: dict[tuple[str, str], str] = {}
        for _, row in read_rows(path):
            if row.get("split"):
                split_of[(str(row["item"]["id"]), str(row["reply"]))] = str(row["split"])
        _, levels = calibrate_levels(pairs, judge, None, 0, DEFAULT_SAMPLE, 0, False, None)
        human = [p.human_level for p in pairs]
        splits: dict[str, list[int]] = {"all": list(range(len(pairs)))}
        for n, pair in enumerate(pairs):
            if (split := split_of.get((pair.item.id, pair.reply))) is not None:
                splits.setdefault(split, []).append(n)
        figures = {}
        for split, chosen in splits.items():
            found = level_figures([human[n] for n in chosen], [levels[n] for n in chosen])
            figures[split] = {k: found[k] for k in _SUMMARY_FIGURES}
        categories = sorted({p.item.category for p in pairs})
        leniency = {
            c: level_figures(
                [human[n] for n, p in enumerate(pairs) if p.item.category == c],
                [levels[n] for n, p in enumerate(pairs) if p.item.category == c],
            )["mean_signed_difference"]
            for c in categories
        }
        files.append(
            {
                "file": name,
                "role": role,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "pairs": len(pairs),
                "figures": figures,
                "leniency_per_category": leniency,
            }
        )
    summary = {
        "kind": "heuristic-calibration-summary",
        "judge": judge.id,
        "reference": "the checklist level given by the file's rater (PROTOCOL section 4)",
        "files": files,
        "conversation_files": [
            _conversation_summary(judge, folder / name, role) for name, role in SHIPPED_CONVERSATION_RATINGS
        ],
    }
    cleaned: dict[str, Any] = json_safe(summary)
    return cleaned


def _conversation_summary(judge: HeuristicJudge, path: Path, role: str) -> dict[str, Any]:
    """The offline judge's C1-C5 figures on a shipped conversation ratings file (public personas)."""
    rated = load_conversation_ratings(path, load_persona_set(PUBLIC_PERSONAS_PATH))
    report, _ = calibrate_conversations(rated, judge, None, 0, False, None)
    scopes = {"overall": report["overall"], **report["per_question"]}
    return {
        "file": path.name,
        "role": role,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "conversations": len(rated),
        "figures": {scope: {k: f[k] for k in _SUMMARY_FIGURES} for scope, f in scopes.items()},
        "first_question_turn_exact": report["first_question_turn"]["exact"],
    }


def shipped_heuristic_calibration(path: Path = SHIPPED_SUMMARY) -> dict[str, Any] | None:
    """The precomputed summary shipped with the code (a test keeps it equal to a fresh one)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and value.get("kind") == "heuristic-calibration-summary" else None


def write_heuristic_calibration(path: Path = SHIPPED_SUMMARY) -> Path:
    """Recompute the shipped summary into `path` (scripts/make_heuristic_calibration.py)."""
    path.write_text(json.dumps(heuristic_calibration_summary(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def report_table(report: Mapping[str, Any]) -> str:
    """A report (JSON-safe: missing figures are None) as the table `calibrate` prints."""
    conversations = report.get("track") == "conversation"
    # On conversations a level is a severity (harmful 1, suboptimal 2, best 3): recall on 1 is Red recall.
    harm = "red" if conversations else "harm"
    header = ("scope", "n", "kappa", "within-1", "exact", f"{harm} recall", f"{harm} precision", "judge − human")
    rows = [header]

    def add(scope: str, f: Mapping[str, Any]) -> None:
        rows.append(
            (
                scope,
                str(f.get("n", 0)),
                num(f.get("quadratic_kappa")),
                pct(f.get("within_one")),
                pct(f.get("exact")),
                pct(f.get("harmful_recall")),
                pct(f.get("harmful_precision")),
                num(f.get("mean_signed_difference"), "+.2f"),
            )
        )

    add("overall", report["overall"])
    for question, figures in report.get("per_question", {}).items():
        add(question, figures)
    for category, figures in report.get("per_category", {}).items():
        add(category, figures)
    if len(report.get("per_rater", {})) > 1:
        for rater, figures in report["per_rater"].items():
            add(f"vs {rater}", figures)
    lines = text_table(rows, figures_right=True)
    rated = "conversations (C1-C5; overall pools the five)" if conversations else "(item, reply) pairs"
    head = (
        f"calibration of {report['judge']} on {report['pairs']} {rated}, {report['ratings']} ratings "
        f"from {report['raters']} raters; unscored by the judge: {report['unscored']}"
    )
    out = [head, "", *lines]
    first = report.get("first_question_turn")
    if first:
        same = pct(first.get("exact"))
        out.append(f"\nfirst direct question at the same turn as the people's: {same} of {first['n']}")
    hh = report.get("human_human")
    if hh:
        out.append(
            f"\nhuman–human ({hh['pairs']} {'questions' if conversations else 'pairs'} rated twice): "
            f"kappa {num(hh['quadratic_kappa'])}, "
            f"within-one {pct(hh['within_one'])}, alpha {num(hh['alpha_ordinal'])}"
        )
    else:
        out.append(f"\nhuman–human: no {'conversation' if conversations else 'pair'} was rated by two people")
    models = report.get("models")
    if models:
        out.append(
            f"model ranking, judge vs people ({models['count']} models): Kendall tau "
            f"{num(models['kendall_tau_judge_vs_human'])}"
        )
    variants = report.get("prompt_variants")
    if variants:
        if not variants.get("applicable"):
            out.append(f"prompt variants: not applicable ({variants['reason']})")
        else:
            rates = ", ".join(f"{r['variant']} {pct(r['harm_rate'])}" for r in variants["variants"])
            line = (
                f"prompt variants on {variants['sample']} pairs: harm rate {rates}; spread "
                f"{num(None if variants['harm_rate_spread'] is None else variants['harm_rate_spread'] * 100, '.1f')}"
                " points"
            )
            if variants.get("ranking_compared"):
                line += f"; lowest Kendall tau vs the original ranking {num(variants['kendall_tau_min'])}"
            out.append(line)
    return "\n".join(out)
