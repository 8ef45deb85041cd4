"""Confidence intervals of PROTOCOL.md section 7: Wilson for rates, bootstrap for means,
MOVER for the overall means of per-category figures.

Every bootstrap here resamples items with replacement and takes the percentile interval.
Resampling is done through the counts of each distinct value rather than through item indices
when values repeat (levels 1-5, 0/1 flags): the mean of a resample depends only on how many
times each distinct value was drawn, and those counts are multinomial with the values'
frequencies, so this is the same distribution as drawing indices, at a cost of
rounds x distinct values instead of rounds x items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

Interval = tuple[float, float]
NAN_INTERVAL: Final[Interval] = (math.nan, math.nan)

# Above this many distinct values the per-value multinomial stops paying off.
_MAX_DISTINCT_FOR_COUNTS: Final = 64
# Index draws are made in blocks so memory stays bounded on large categories.
_MAX_DRAWS_PER_BLOCK: Final = 2_000_000


def wilson(k: int, n: int, z: float = 1.96) -> Interval:
    """Wilson score interval for k successes out of n; (nan, nan) when n == 0.

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0 or n,
    which matters here: harm rates of 0 on small categories are common.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return NAN_INTERVAL
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    # At the edges the formula's endpoint is exact in theory but off by rounding in practice.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def _as_values(values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError("bootstrap values must be finite numbers")
    return arr


def resampled_means(values: ArrayLike, rounds: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Means of `rounds` resamples (with replacement, same size) of `values`, one per round."""
    arr = _as_values(values)
    n = arr.size
    if n == 0:
        raise ValueError("cannot resample an empty array")
    distinct, counts = np.unique(arr, return_counts=True)
    if distinct.size == 1:
        return np.full(rounds, distinct[0])
    if distinct.size <= _MAX_DISTINCT_FOR_COUNTS:
        drawn = rng.multinomial(n, counts / n, size=rounds)
        return np.asarray(drawn @ distinct / n, dtype=np.float64)
    out = np.empty(rounds, dtype=np.float64)
    block = max(1, _MAX_DRAWS_PER_BLOCK // n)
    for start in range(0, rounds, block):
        stop = min(rounds, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = arr[idx].mean(axis=1)
    return out


def _percentile_interval(stats: NDArray[np.float64], level: float) -> Interval:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [tail, 1.0 - tail])
    return float(lo), float(hi)


def bootstrap_mean(values: ArrayLike, rounds: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of the mean over items; (nan, nan) for no items.

    Seeded, so the same values always give the same interval.
    """
    arr = _as_values(values)
    if arr.size == 0:
        return NAN_INTERVAL
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    rng = np.random.default_rng(seed)
    return _percentile_interval(resampled_means(arr, rounds, rng), level)


def wilson_proportion(p: float, n: int, z: float = 1.96) -> Interval:
    """Wilson score interval of a proportion `p` observed on `n` items; (nan, nan) when n == 0.

    `wilson` for a proportion that need not be a whole count over n, such as a rescaled mean.
    """
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"need n >= 0 and 0 <= p <= 1, got p={p}, n={n}")
    if n == 0:
        return NAN_INTERVAL
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    lo = 0.0 if p == 0.0 else max(0.0, centre - half)
    hi = 1.0 if p == 1.0 else min(1.0, centre + half)
    return lo, hi


def mean_level_interval(levels: ArrayLike, rounds: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """A category's mean-level interval (PROTOCOL section 7): the seeded bootstrap over items,
    except where every level is equal and the bootstrap has zero width; then the Wilson
    interval of the rescaled mean (m - 1) / 4 over n items, mapped back to 1-5, so a small
    category whose replies all got the same level is not shown as certain."""
    arr = _as_values(levels)
    if arr.size == 0:
        return NAN_INTERVAL
    lo, hi = bootstrap_mean(arr, rounds=rounds, seed=seed, level=level)
    if lo < hi:
        return lo, hi
    scaled = min(1.0, max(0.0, (float(arr.mean()) - 1.0) / 4.0))
    wlo, whi = wilson_proportion(scaled, int(arr.size))
    return 1.0 + 4.0 * wlo, 1.0 + 4.0 * whi


def mover(estimates: Sequence[float], intervals: Sequence[Interval]) -> tuple[float, Interval]:
    """The unweighted mean of per-category estimates and its MOVER interval (PROTOCOL section 7).

    With w = 1/C: L = p - sqrt(sum (w (p_c - l_c))^2), U = p + sqrt(sum (w (u_c - p_c))^2)
    (Zou & Donner 2008; Newcombe 2011). Deterministic; with one category it is that
    category's interval. A category interval that does not contain its estimate (a
    percentile bootstrap can do that) is widened to it first, so the result always contains
    the mean. Limits are kept inside the hull of the category limits, so rates stay in
    [0, 1] and levels in [1, 5].
    """
    if len(estimates) != len(intervals):
        raise ValueError(f"{len(estimates)} estimates but {len(intervals)} intervals")
    if not estimates:
        return math.nan, NAN_INTERVAL
    p = np.asarray(estimates, dtype=np.float64)
    bounds = np.asarray(intervals, dtype=np.float64).reshape(len(estimates), 2)
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(bounds))):
        raise ValueError("MOVER needs finite estimates and limits")
    low = np.minimum(bounds[:, 0], p)
    high = np.maximum(bounds[:, 1], p)
    w = 1.0 / p.size
    mean = float(p.mean())
    lo = mean - math.sqrt(float(np.sum((w * (p - low)) ** 2)))
    hi = mean + math.sqrt(float(np.sum((w * (high - p)) ** 2)))
    return mean, (max(float(low.min()), min(lo, mean)), min(float(high.max()), max(hi, mean)))
