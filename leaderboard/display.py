"""How the leaderboard shows a view: its columns, their labels and kinds, and the cells.

leaderboard.query chooses the models and their order; this module turns their figures into what
the page, the API and the CLI print. Rates are shown in percent and rounded as
`evaluator.results.DISPLAY_ROUNDING` says, intervals and rank ranges as text, missing values as
None (NaN is not JSON, and the API returns these cells).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from evaluator.metrics.intervals import wilson
from evaluator.results import DISPLAY_ROUNDING
from leaderboard.links import plain_text

Kind = Literal["rank", "model", "text", "rate", "ci", "level", "ratio", "count", "params", "date"]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: Kind
    default: bool = False
    better: Literal["low", "high"] | None = None
    source: str | None = None  # the numeric column a text column sorts by


COLUMNS: Final[tuple[Column, ...]] = (
    Column("rank", "Rank (95%)", "rank", True, "low", source="_order"),
    Column("model", "Model", "model", True, source="_model_key"),
    Column("model_type", "Type", "text", True),
    Column("params_b", "Params (B)", "params", False),
    Column("license", "License", "text", False),
    Column("harm_rate", "Harm rate %", "rate", True, "low"),
    Column("harm_ci", "Harm 95% CI", "ci", True, "low", source="harm_rate"),
    Column("mean_level", "Mean level (1-5)", "level", True, "high"),
    Column("appropriate_rate", "Appropriate %", "rate", True, "high"),
    # How many scored items each row's figures rest on: 0.0% of 12 is not 0.0% of 400.
    Column("n", "Items scored", "count", True),
    Column("miss_rate", "Miss rate %", "rate", True, "low"),
    # A bare refusal and a hotline script both harm nobody: these two tell them apart.
    Column("bare_refusal_rate", "Bare refusal %", "rate", True, "low"),
    Column("over_refusal_rate", "Over-refusal %", "rate", True, "low"),
    Column("enabling_rate", "Enabling %", "rate", True, "low"),
    Column("detection_macro_f1", "Detection F1", "ratio", True, "high"),
    # PROTOCOL v2: unscored replies never help; the share of them is always in view.
    Column("unscored_rate", "Unscored %", "rate", True, "low"),
    Column("evaluated_at", "Evaluated", "date", True, source="evaluated_at"),
    Column("mean_level_ci", "Mean level 95% CI", "ci", False, "high", source="mean_level"),
    Column("inappropriate_rate", "Inappropriate %", "rate", False, "low"),
    Column("full_rate", "Fully appropriate %", "rate", False, "high"),
    Column("referral_rate", "Referral %", "rate", False, "high"),
    Column("false_alarm_rate", "False alarm %", "rate", False, "low"),
    Column("detection_accuracy", "Detection accuracy %", "rate", False, "high"),
    Column("detection_recall", "Detection recall %", "rate", False, "high"),
    Column("cognitive_mean", "Cognitive support", "level", False, "high"),
    Column("affective_mean", "Affective resonance", "level", False, "high"),
    Column("support_gap", "Support gap", "level", False),
    # Consistency across samples (`--samples K`): shown by default where a board has them.
    Column("consistent_safe_rate", "Consistently safe % (K samples)", "rate", False, "high"),
    Column("samples", "Samples per item", "count", False),
    Column("unscored", "Unscored", "count", False, "low"),
    Column("revision", "Revision", "text", False),
    Column("judge", "Judge", "text", False),
    Column("set_version", "Set version", "text", False),
    Column("run_id", "Run", "text", False),
)
COLUMN_BY_KEY: Final[dict[str, Column]] = {c.key: c for c in COLUMNS}
SAMPLE_VIEW_COLUMNS: Final[tuple[str, ...]] = ("consistent_safe_rate", "samples")
DEFAULT_COLUMNS: Final[tuple[str, ...]] = tuple(c.key for c in COLUMNS if c.default)
FIXED_COLUMNS: Final[tuple[str, ...]] = ("rank", "model")
CHOOSABLE_COLUMNS: Final[tuple[str, ...]] = tuple(c.key for c in COLUMNS if c.key not in FIXED_COLUMNS)
SORT_KEYS: Final[tuple[str, ...]] = tuple(c.key for c in COLUMNS)
# Figures the by-category view can show (a category row carries each of them).
PIVOT_METRICS: Final[dict[str, str]] = {
    "harm_rate": "Harm rate %",
    "mean_level": "Mean level (1-5)",
    "appropriate_rate": "Appropriate %",
    "inappropriate_rate": "Inappropriate %",
    "full_rate": "Fully appropriate %",
    "referral_rate": "Referral %",
    "detection_recall": "Detection recall %",
    "n": "Items scored",
}


def pivot_rounding(metric: str) -> tuple[int, float]:
    """(digits, scale) of one PIVOT_METRICS figure in the by-category view: rates in percent
    with one decimal, counts whole, levels with two decimals."""
    scale = 100.0 if metric.endswith("_rate") or metric == "detection_recall" else 1.0
    return (1 if scale == 100 else (0 if metric == "n" else 2)), scale


def wilson_columns(rate: pd.Series, n: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Wilson intervals for rates that are exact proportions of `n` items."""
    lo = np.full(len(rate), np.nan)
    hi = np.full(len(rate), np.nan)
    for i, (r, count) in enumerate(zip(rate.to_numpy(), n.to_numpy(), strict=True)):
        if np.isfinite(r) and np.isfinite(count) and count > 0:
            k = min(int(count), max(0, round(r * count)))
            lo[i], hi[i] = wilson(k, int(count))
    return pd.Series(lo, index=rate.index), pd.Series(hi, index=rate.index)


def rank_text(best: float, worst: float, baseline: bool) -> str | None:
    """A rank interval as the table shows it: "3", "2–5", "ref." for a baseline."""
    if baseline:
        return "ref."
    if not np.isfinite(best):
        return None
    return f"{int(best)}" if best == worst else f"{int(best)}–{int(worst)}"


def ci_text(lo: float, hi: float, scale: float, digits: int) -> str | None:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return f"[{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _rounded(digits: int, scale: float = 1.0) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return None if is_missing(value) else round(float(value) * scale, digits)

    return convert


def _count_cell(value: Any) -> Any:
    return None if is_missing(value) else int(value)


def _params_cell(value: Any) -> Any:
    return None if is_missing(value) else round(float(value), 2 if value < 10 else 1)


def _as_is(value: Any) -> Any:
    if is_missing(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _text_cell(value: Any) -> Any:
    return None if is_missing(value) else plain_text(value)


_FORMATTERS: Final[dict[str, Callable[[Any], Any]]] = {
    **{kind: _rounded(digits, scale) for kind, (digits, scale) in DISPLAY_ROUNDING.items()},
    "rank": _as_is,
    "ci": _as_is,
    "date": _as_is,
    "count": _count_cell,
    "params": _params_cell,
}


def display_table(rows: pd.DataFrame, columns: Sequence[str], *, markdown_models: bool = True) -> pd.DataFrame:
    """The table as shown: human headers, rates in percent, rounded, missing as None."""
    if rows.empty:
        return pd.DataFrame({COLUMN_BY_KEY[k].label: pd.Series(dtype="object") for k in columns})
    cells = display_cells(rows, None, columns, markdown_models=markdown_models)
    # Object columns keep None as None: NaN is not JSON, and the API returns this.
    data = {COLUMN_BY_KEY[k].label: pd.Series(values, dtype="object") for k, values in cells.items()}
    return pd.DataFrame(data, columns=[COLUMN_BY_KEY[k].label for k in columns])


def display_cells(
    view: pd.DataFrame, positions: np.ndarray | None, columns: Sequence[str], *, markdown_models: bool = True
) -> dict[str, list[Any]]:
    """The shown values per column key, for the rows at `positions` of `view` (every row
    when None): only the needed columns are taken, so a page of 100 rows of a 10,000-model
    view costs what those cells cost."""

    if view.empty or (positions is not None and not len(positions)):
        return {key: [] for key in columns}

    def take(source: str) -> list[Any]:
        values = view[source].array
        if positions is not None:
            values = values.take(positions)
        return values.to_numpy().tolist()

    out: dict[str, list[Any]] = {}
    for key in columns:
        column = COLUMN_BY_KEY[key]
        if column.kind == "model":
            out[key] = take("model_cell") if markdown_models else [plain_text(m) for m in take("model")]
            continue
        source = {"rank": "rank", "ci": key, "date": "evaluated_date"}.get(column.kind, key)
        values = take(source)
        scaled = DISPLAY_ROUNDING.get(column.kind)
        if scaled is not None and view[source].dtype == np.float64:
            digits, scale = scaled
            # NaN is the only missing value of a float column (v != v tests it).
            out[key] = [None if v != v else round(v * scale, digits) for v in values]
        else:
            convert = _FORMATTERS.get(column.kind, _text_cell)
            out[key] = [convert(v) for v in values]
    return out


def datatypes(columns: Sequence[str]) -> list[str]:
    kinds = {"model": "markdown", "rate": "number", "level": "number", "ratio": "number", "count": "number"}
    kinds |= {"params": "number"}
    return [kinds.get(COLUMN_BY_KEY[k].kind, "str") for k in columns]


def fixed_datatypes() -> list[str]:
    """One datatype list valid for every column choice: the model cell (always second)
    is Markdown, everything else text. Numbers in text cells still show as numbers."""
    return ["str", "markdown", *(["str"] * (len(COLUMNS) - 2))]
