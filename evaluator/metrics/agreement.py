"""Agreement between raters of appropriateness levels (PROTOCOL.md section 5).

Used for inter-judge agreement within a panel (Krippendorff's alpha) and for calibration of
a judge against human ratings (quadratic-weighted kappa, within-one-level agreement, recall
and precision on `harmful`, mean signed difference), and for comparing the model rankings two
sets of ratings give (Kendall's tau). Missing ratings are None or nan; a figure that cannot be
computed (no pairs, no variation) is nan, never a made-up 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Metric = Literal["nominal", "ordinal", "interval"]
LEVELS: Final[tuple[int, ...]] = (1, 2, 3, 4, 5)
HARMFUL: Final = 1

Ratings = Sequence[float | int | None] | NDArray[np.float64]
# Coders x units; None or nan marks a missing rating.
ReliabilityData = Sequence[Sequence[float | int | None]] | ArrayLike


def _reliability_matrix(data: ReliabilityData) -> NDArray[np.float64]:
    # None becomes nan under a float dtype, so both spellings of "missing" work.
    matrix = np.array(data, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError("reliability data must be 2-D: one row per coder, one column per unit")
    if np.isinf(matrix).any():
        raise ValueError("ratings must be finite numbers or missing")
    return matrix


def _delta_squared(metric: Metric, values: NDArray[np.float64], marginals: NDArray[np.float64]) -> NDArray[np.float64]:
    if metric == "nominal":
        return 1.0 - np.eye(values.size)
    if metric == "interval":
        return np.subtract.outer(values, values) ** 2
    if metric == "ordinal":
        # Krippendorff's ordinal distance counts the pairable values lying between two
        # ranks (half of each end's own), which reduces to a difference of mid-ranks.
        midrank = np.cumsum(marginals) - marginals / 2.0
        return np.subtract.outer(midrank, midrank) ** 2
    raise ValueError(f"unknown metric {metric!r}")


def krippendorff_alpha(data: ReliabilityData, metric: Metric = "interval") -> float:
    """Krippendorff's alpha for any number of coders, with missing ratings.

    `data` is coders x units. Units rated by fewer than two coders carry no pair and are
    dropped. Returns nan when there is nothing to compare or no variation at all (every
    pairable rating identical), where the expected disagreement is 0 and alpha is
    undefined.
    """
    matrix = _reliability_matrix(data)
    present = ~np.isnan(matrix)
    values = np.unique(matrix[present])
    if values.size == 0:
        return math.nan
    coders, units = matrix.shape
    codes = np.searchsorted(values, np.where(present, matrix, values[0]))
    unit_of = np.broadcast_to(np.arange(units), (coders, units))
    counts = np.bincount((unit_of[present] * values.size + codes[present]), minlength=units * values.size).reshape(
        units, values.size
    )
    per_unit = counts.sum(axis=1)
    pairable = per_unit >= 2
    if not pairable.any():
        return math.nan
    counts = counts[pairable].astype(np.float64)
    weighted = counts / (per_unit[pairable] - 1.0)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    delta2 = _delta_squared(metric, values, marginals)
    expected = float(np.sum(np.outer(marginals, marginals) * delta2))
    if expected == 0.0:
        return math.nan
    observed = float(np.sum(coincidence * delta2))
    return 1.0 - (total - 1.0) * observed / expected


def _paired(reference: Ratings, rated: Ratings) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.array(reference, dtype=np.float64)
    b = np.array(rated, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("the two rating lists must be 1-D and of the same length")
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def _level_codes(levels: NDArray[np.float64]) -> NDArray[np.int64]:
    codes = levels.astype(np.int64)
    if np.any(codes != levels) or np.any((codes < LEVELS[0]) | (codes > LEVELS[-1])):
        raise ValueError("levels must be integers 1-5")
    return codes - LEVELS[0]


def quadratic_kappa(reference: Ratings, rated: Ratings) -> float:
    """Cohen's kappa with quadratic weights on levels 1-5, over items both rated.

    nan with no pair or when chance disagreement is 0 (both raters always gave one and the
    same level).
    """
    a, b = _paired(reference, rated)
    if a.size == 0:
        return math.nan
    k = len(LEVELS)
    ca, cb = _level_codes(a), _level_codes(b)
    observed = np.bincount(ca * k + cb, minlength=k * k).reshape(k, k) / a.size
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    grid = np.arange(k)
    weights = np.subtract.outer(grid, grid) ** 2 / (k - 1) ** 2
    chance = float(np.sum(weights * expected))
    if chance == 0.0:
        return math.nan
    return 1.0 - float(np.sum(weights * observed)) / chance


def within_one(reference: Ratings, rated: Ratings) -> float:
    """Share of items both rated whose levels differ by at most one."""
    a, b = _paired(reference, rated)
    return float(np.mean(np.abs(a - b) <= 1)) if a.size else math.nan


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either ranking accounted for); nan when undefined."""
    if len(x) != len(y):
        raise ValueError("kendall_tau needs two sequences of the same length")
    concordant = discordant = tied_x = tied_y = pairs = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            pairs += 1
            dx = (x[i] > x[j]) - (x[i] < x[j])
            dy = (y[i] > y[j]) - (y[i] < y[j])
            tied_x += dx == 0
            tied_y += dy == 0
            if dx and dy:
                concordant += dx == dy
                discordant += dx != dy
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    return (concordant - discordant) / denominator if denominator else math.nan


def harmful_recall_precision(reference: Ratings, rated: Ratings) -> tuple[float, float]:
    """Recall and precision of `rated` on level 1 (harmful), taking `reference` as truth.

    Recall is what matters most for safety: a harmful reply the judge lets through is worse
    than a safe one it flags.
    """
    a, b = _paired(reference, rated)
    true = a == HARMFUL
    flagged = b == HARMFUL
    both = float(np.sum(true & flagged))
    recall = both / true.sum() if true.any() else math.nan
    precision = both / flagged.sum() if flagged.any() else math.nan
    return recall, precision


def mean_signed_difference(reference: Ratings, rated: Ratings) -> float:
    """Mean of rated - reference: positive means `rated` is more lenient (higher levels)."""
    a, b = _paired(reference, rated)
    return float(np.mean(b - a)) if a.size else math.nan


@dataclass(frozen=True, slots=True)
class LevelAgreement:
    n: int  # items rated by both
    quadratic_kappa: float
    alpha_ordinal: float
    within_one: float
    harmful_recall: float
    harmful_precision: float
    mean_signed_difference: float


def compare_levels(reference: Ratings, rated: Ratings) -> LevelAgreement:
    """Every calibration figure of `rated` (a judge, or a second human) against `reference`."""
    a, b = _paired(reference, rated)
    recall, precision = harmful_recall_precision(a, b)
    return LevelAgreement(
        n=int(a.size),
        quadratic_kappa=quadratic_kappa(a, b),
        alpha_ordinal=krippendorff_alpha(np.vstack([a, b]), "ordinal"),
        within_one=within_one(a, b),
        harmful_recall=recall,
        harmful_precision=precision,
        mean_signed_difference=mean_signed_difference(a, b),
    )
