"""The public result rows (PROTOCOL section 8): column names, order and Arrow schema.

Long format, one row per model x revision x set version x judge x category (each label
present, and `overall`). These names are a contract other tools read; add, never rename.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray

from evaluator.protocol.taxonomy import DOMAINS, SIGNALS, SUPPORT_ATTRIBUTES

OVERALL: Final = "overall"

# PROTOCOL version 3, section 8: what a result row measures. Tracks are never ranked together.
SINGLE_TURN: Final = "single_turn"
CONVERSATION: Final = "conversation"
LOG_AUDIT: Final = "log_audit"
RESULT_TRACKS: Final[tuple[str, ...]] = (SINGLE_TURN, CONVERSATION, LOG_AUDIT)

IDENTITY_COLUMNS: Final = (
    "model",
    "revision",
    "model_type",
    "set_name",
    "set_version",
    "judge",
    "protocol_version",
    "run_id",
    "evaluated_at",
    "category",
)
CATEGORY_METRICS: Final = (
    "n",
    "unscored",
    "mean_level",
    "mean_level_lo",
    "mean_level_hi",
    "harm_rate",
    "harm_rate_lo",
    "harm_rate_hi",
    "inappropriate_rate",
    "appropriate_rate",
    "full_rate",
    "referral_rate",
)
OVERALL_METRICS: Final = (
    "detection_accuracy",
    "detection_macro_f1",
    "miss_rate",
    "false_alarm_rate",
    "over_refusal_rate",
    "bare_refusal_rate",
    "enabling_rate",
    "cognitive_mean",
    "affective_mean",
)
# Added columns (PROTOCOL: "more columns may follow").
EXTRA_COLUMNS: Final = (
    "inappropriate_rate_lo",
    "inappropriate_rate_hi",
    "appropriate_rate_lo",
    "appropriate_rate_hi",
    "full_rate_lo",
    "full_rate_hi",
    "referral_rate_lo",
    "referral_rate_hi",
    "miss_rate_lo",
    "miss_rate_hi",
    "over_refusal_rate_lo",
    "over_refusal_rate_hi",
    "bare_refusal_rate_lo",
    "bare_refusal_rate_hi",
    "enabling_rate_lo",
    "enabling_rate_hi",
    "detection_recall",  # per-category rows: recall of this label
    "support_gap",  # cognitive_mean - affective_mean
    *(f"{m}_{s}" for s in SIGNALS for m in ("n", "harm_rate", "mean_level", "appropriate_rate")),
    *(f"enabling_rate_{d}" for d in DOMAINS),
    "n_adversarial",
    "judge_prompt_hash",
    "judge_official",
    "judge_alpha",
    "judge_same_family",
    "model_spec",
    "generation_params",
    # PROTOCOL section 7 reports the mean of each support attribute, not only the two means.
    *(f"{a}_mean" for a in SUPPORT_ATTRIBUTES),
    # Overall row only: the detection confusion matrix as JSON {"labels", "matrix"} (rows are
    # true labels; a last column counts replies naming no label) and the run's token cost.
    "detection_confusion",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    # PROTOCOL version 2, section 8: on every row the unscored rate; on overall rows the
    # no-label rate, whether the model is ranked and why not.
    "unscored_rate",
    "no_label_rate",
    "ranked",
    "not_ranked_reason",
    # Overall row: the counts behind the no-label rate ("N of M answers named no label").
    "no_label_count",
    "detection_n",
    # PROTOCOL version 3, section 8: on every row the track the result measures and the
    # judge's generation settings (null for a judge that generates nothing, the heuristic).
    "track",
    "judge_temperature",
    "judge_max_tokens",
    # PROTOCOL version 3, section 7: the counts behind `unscored_rate` (every judged reply of
    # the category, or of the run on `overall` rows, both tracks); intervals where unscored
    # replies count as failures on the side where they may not help, per signal and domain too.
    "judged_replies",
    "unscored_replies",
    "detection_accuracy_lo",
    "detection_accuracy_hi",
    *(f"unscored_{s}" for s in SIGNALS),
    *(f"{m}_{s}_{end}" for s in SIGNALS for m in ("harm_rate", "appropriate_rate") for end in ("lo", "hi")),
    "unscored_adversarial",
    *(f"enabling_rate_{d}_{end}" for d in DOMAINS for end in ("lo", "hi")),
)
# PROTOCOL version 3, section 9: conversation rows (track `conversation`; null elsewhere). On
# them `harm_rate` is the share of conversations with a turn at level 1, `mean_level` the mean
# worst-turn level, `n` the scored conversations; the simulator is part of the board's key.
CONVERSATION_METRICS: Final = (
    "simulator",
    "simulator_prompt_hash",
    *(
        f"{rate}{suffix}"
        for rate in (
            *(f"c{q}_{kind}_rate" for q in range(1, 6) for kind in ("best", "harmful")),
            "risk_check_rate",
            "refusal_rate",
            "refusal_warm_referral_rate",
            "post_refusal_stay_rate",
        )
        for suffix in ("", "_lo", "_hi")
    ),
    "median_turns_to_risk_question",
    "conversation_turns_mean",
    # Views by how risk shows and how much there is (explicit, indirect and ambiguous
    # disclosures use the per-signal columns of single-turn rows).
    *(
        name.format(group)
        for group in ("late", "risk_low", "risk_high", "risk_imminent")
        for name in ("n_{}", "unscored_{}", "harm_rate_{}", "harm_rate_{}_lo", "harm_rate_{}_hi")
    ),
)
# PROTOCOL version 3, section 5: the model id an API judge's responses reported, which pins a
# judge without a dated snapshot (a panel joins its judges' ids with `+`).
PINNING_COLUMNS: Final = ("judge_served_model",)
# Consistency across samples (issue 20): K replies per item (`--samples K`). Rates are over
# every reply with intervals clustered by item; these add the item-level figures.
SAMPLE_COLUMNS: Final = (
    "samples",
    "n_items",
    "consistent_safe_rate",
    "consistent_safe_rate_lo",
    "consistent_safe_rate_hi",
    "level_spread",
)
RESULT_COLUMNS: Final[tuple[str, ...]] = (
    IDENTITY_COLUMNS
    + CATEGORY_METRICS
    + OVERALL_METRICS
    + EXTRA_COLUMNS
    + CONVERSATION_METRICS
    + PINNING_COLUMNS
    + SAMPLE_COLUMNS
)
# What a run says of itself, handed to scoring (evaluator.metrics.scoring) and copied onto
# every row of the run: who and what was evaluated, with which judge and settings, and a
# conversation run's figures. Every other column of a row is a figure scoring computes.
GIVEN_COLUMNS: Final[tuple[str, ...]] = (
    *(c for c in IDENTITY_COLUMNS if c != "category"),
    "judge_prompt_hash",
    "judge_official",
    "judge_alpha",
    "judge_same_family",
    "model_spec",
    "generation_params",
    "detection_confusion",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "track",
    "judge_temperature",
    "judge_max_tokens",
    *CONVERSATION_METRICS,
    *PINNING_COLUMNS,
)
# The columns PROTOCOL section 8 names, each version's additions included (they also sit in
# EXTRA_COLUMNS, where the schema places them): what a reader gets by default.
PROTOCOL_V2_COLUMNS: Final = ("unscored_rate", "no_label_rate", "judge_prompt_hash", "ranked", "not_ranked_reason")
PROTOCOL_V3_COLUMNS: Final = ("track", "judge_temperature", "judge_max_tokens")
PROTOCOL_COLUMNS: Final[tuple[str, ...]] = (
    IDENTITY_COLUMNS + CATEGORY_METRICS + OVERALL_METRICS + PROTOCOL_V2_COLUMNS + PROTOCOL_V3_COLUMNS
)

_STRING_COLUMNS: Final = frozenset(
    {
        *IDENTITY_COLUMNS,
        "judge_prompt_hash",
        "model_spec",
        "generation_params",
        "detection_confusion",
        "not_ranked_reason",
        "track",
        "simulator",
        "simulator_prompt_hash",
        "judge_served_model",
    }
) - {"evaluated_at"}
_INT_COLUMNS: Final = frozenset(
    {
        "n",
        "unscored",
        "n_adversarial",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "no_label_count",
        "detection_n",
        "judge_max_tokens",
        "judged_replies",
        "unscored_replies",
        "unscored_adversarial",
        "samples",
        "n_items",
    }
    | {f"{m}_{g}" for g in ("late", "risk_low", "risk_high", "risk_imminent") for m in ("n", "unscored")}
    | {f"n_{s}" for s in SIGNALS}
    | {f"unscored_{s}" for s in SIGNALS}
)
_BOOL_COLUMNS: Final = frozenset({"judge_official", "judge_same_family", "ranked"})


def _type(column: str) -> pa.DataType:
    if column == "evaluated_at":
        return pa.timestamp("s", tz="UTC")
    if column in _STRING_COLUMNS:
        return pa.string()
    if column in _INT_COLUMNS:
        return pa.int64()
    if column in _BOOL_COLUMNS:
        return pa.bool_()
    return pa.float64()


RESULT_SCHEMA: Final = pa.schema([pa.field(c, _type(c)) for c in RESULT_COLUMNS])


# PROTOCOL section 7: the order of a board, best first. Lower harm rate first, then higher
# mean level, then the model name, so two runs of the same results always list the same order.
# (column, ascending) pairs, as pandas `sort_values(by, ascending)` takes them.
RANKING_KEY: Final[tuple[tuple[str, bool], ...]] = (("harm_rate", True), ("mean_level", False), ("model", True))


def ranking_key(harm_rate: float | None, mean_level: float | None, model: str = "") -> tuple[float, float, str]:
    """RANKING_KEY for one model as a sort key (smaller sorts first): a missing harm rate sorts
    last, a missing mean level loses every tie."""
    harm = math.inf if harm_rate is None or math.isnan(harm_rate) else float(harm_rate)
    level = -math.inf if mean_level is None or math.isnan(mean_level) else float(mean_level)
    return harm, -level, model


def ranking_order(harm_rate: ArrayLike, mean_level: ArrayLike, model: ArrayLike | None = None) -> NDArray[np.int64]:
    """Input positions best first by RANKING_KEY (ranking_key's rules for missing values). Without
    model names, models tied on both figures keep their input order."""
    harm = np.asarray(harm_rate, dtype=np.float64)
    level = np.asarray(mean_level, dtype=np.float64)
    keys = [-np.nan_to_num(level, nan=-np.inf), np.nan_to_num(harm, nan=np.inf)]
    if model is not None:
        keys.insert(0, np.asarray(model))
    return np.lexsort(keys).astype(np.int64)


# (digits, scale) of the rounded display kinds: rates in percent with one decimal, means and
# ratios with two; the page shows exactly these digits (leaderboard.display, space.formatting).
DISPLAY_ROUNDING: Final[dict[str, tuple[int, float]]] = {"rate": (1, 100.0), "level": (2, 1.0), "ratio": (2, 1.0)}
