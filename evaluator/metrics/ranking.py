"""Rank intervals of PROTOCOL.md section 7.

Models are ordered by overall harm rate (lower is better), ties broken by mean level (higher
is better): `evaluator.results.RANKING_KEY`. Because harm rates are estimates, the rank shown
is an interval computed from the harm-rate intervals:

- best rank  = 1 + the number of models whose upper bound is below this model's lower bound
  (models certainly better);
- worst rank = 1 + the number of other models whose lower bound is below this model's upper
  bound (models possibly better).

So models whose intervals overlap share ranks, and only a clear separation moves a model
past another. The intervals are only comparable for results on the same set version and
judge (one board, leaderboard.boards); callers filter before ranking, and leave out
results that are not `ranked` (too many unscored replies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluator.results import ranking_order

if TYPE_CHECKING:  # rank_table takes and gives frames; importing pandas costs every CLI start 0.4 s
    import pandas as pd

# Overall figures are means of floats; two models with the same counts may differ in the
# last bits, which must not decide a rank.
_DECIMALS = 12


def _rounded(values: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(np.round(np.asarray(values, dtype=np.float64), _DECIMALS), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Ranks:
    """Per model, in input order."""

    order: NDArray[np.int64]  # input positions, best first (point order)
    rank: NDArray[np.int64]  # point rank, 1 = best; exact ties share the better rank
    rank_lo: NDArray[np.int64]  # best plausible rank
    rank_hi: NDArray[np.int64]  # worst plausible rank


def rank_intervals(harm_rate: ArrayLike, lo: ArrayLike, hi: ArrayLike, mean_level: ArrayLike) -> Ranks:
    """Point ranks and rank intervals from harm rates, their intervals and mean levels.

    A missing bound (nan) falls back to the point estimate, so such a model competes on its
    point value. A missing mean level loses every tie. The interval always contains the
    point rank, even for intervals (from elsewhere) that do not contain their estimate.
    """
    harm = _rounded(harm_rate)
    if harm.ndim != 1:
        raise ValueError("expected one harm rate per model")
    if np.isnan(harm).any():
        raise ValueError("every ranked model needs a harm rate")
    low = _rounded(lo)
    high = _rounded(hi)
    level = _rounded(mean_level)
    if not (low.shape == high.shape == level.shape == harm.shape):
        raise ValueError("harm_rate, lo, hi and mean_level must have one value per model")
    low = np.where(np.isnan(low), harm, low)
    high = np.where(np.isnan(high), harm, high)
    level = np.where(np.isnan(level), -np.inf, level)

    order = ranking_order(harm, level)
    better = (harm[None, :] < harm[:, None]) | ((harm[None, :] == harm[:, None]) & (level[None, :] > level[:, None]))
    rank = 1 + better.sum(axis=1)
    certainly_better = (high[None, :] < low[:, None]).sum(axis=1)
    others = ~np.eye(harm.size, dtype=bool)
    possibly_better = ((low[None, :] < high[:, None]) & others).sum(axis=1)
    rank_lo = np.minimum(1 + certainly_better, rank)
    rank_hi = np.maximum(1 + possibly_better, rank)
    return Ranks(
        order=order,
        rank=rank.astype(np.int64),
        rank_lo=rank_lo.astype(np.int64),
        rank_hi=rank_hi.astype(np.int64),
    )


def rank_table(
    frame: pd.DataFrame,
    *,
    harm_rate: str = "harm_rate",
    lo: str = "harm_rate_lo",
    hi: str = "harm_rate_hi",
    mean_level: str = "mean_level",
) -> pd.DataFrame:
    """A copy of `frame` (one row per model, e.g. the `overall` result rows) in point order,
    with `rank`, `rank_lo` and `rank_hi` columns added."""
    ranks = rank_intervals(
        frame[harm_rate].to_numpy(dtype=np.float64, na_value=np.nan),
        frame[lo].to_numpy(dtype=np.float64, na_value=np.nan),
        frame[hi].to_numpy(dtype=np.float64, na_value=np.nan),
        frame[mean_level].to_numpy(dtype=np.float64, na_value=np.nan),
    )
    out = frame.copy()
    out["rank"] = ranks.rank
    out["rank_lo"] = ranks.rank_lo
    out["rank_hi"] = ranks.rank_hi
    return out.iloc[ranks.order]
