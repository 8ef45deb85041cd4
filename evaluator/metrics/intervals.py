"""Confidence intervals of PROTOCOL.md section 7: Wilson for rates (clustered by item where
an item has several replies), a deterministic Student-t interval for mean levels, MOVER for
the overall means of per-category figures, and the version-3 worst-case arm for unscored
replies. The bootstrap below is kept for analyses outside the result rows, which use none.

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
from dataclasses import dataclass
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


def wilson_proportion(p: float, n: float, z: float = 1.96) -> Interval:
    """Wilson score interval of a proportion `p` observed on `n` items; (nan, nan) when n == 0.

    `wilson` for a proportion that need not be a whole count over n, such as a rescaled mean,
    and for an effective sample size that need not be whole (clustered replies).
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


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(b, a, 1.0 - x) / b


def t_quantile(probability: float, df: float) -> float:
    """The `probability` quantile of Student's t with `df` degrees of freedom, for
    probability in (0.5, 1): found by bisection on the incomplete beta function, so it is
    exact to rounding and deterministic (t_quantile(0.975, 11) = 2.200985...)."""
    if not 0.5 < probability < 1.0:
        raise ValueError(f"probability must be in (0.5, 1), got {probability}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    # P(T > t) = I_x(df / 2, 1 / 2) / 2 with x = df / (df + t^2), increasing in x.
    tail = 2.0 * (1.0 - probability)
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if _incomplete_beta(df / 2.0, 0.5, mid) < tail:
            lo = mid
        else:
            hi = mid
    x = (lo + hi) / 2.0
    return math.sqrt(df * (1.0 - x) / x)


def mean_level_interval(
    levels: ArrayLike,
    rounds: int | None = None,
    seed: int | None = None,
    level: float = 0.95,
    *,
    clusters: Sequence[object] | None = None,
) -> Interval:
    """A category's mean-level interval (PROTOCOL version 3, section 7): the deterministic
    Student-t interval m +- t(0.975, n - 1) s / sqrt(n), with s^2 = ((n - 1) v + 1) / n where v
    is the sample variance of the levels (a prior of one level^2 weighing as one item, so
    equal levels still get a width that shrinks with n), clipped to [1, 5]; n = 1 gives
    [1, 5]; (nan, nan) for no levels.

    With `clusters` (the item of each reply, several replies per item) the items are the
    unit: v and n are those of the per-item mean levels, around the mean of every reply.
    `rounds` and `seed` are accepted for old callers and ignored: there is no bootstrap.
    """
    del rounds, seed
    arr = _as_values(levels)
    if arr.size == 0:
        return NAN_INTERVAL
    centre = float(arr.mean())
    units = arr
    if clusters is not None:
        if len(clusters) != arr.size:
            raise ValueError(f"{arr.size} levels but {len(clusters)} cluster labels")
        _, index = np.unique(np.asarray([str(c) for c in clusters], dtype=object), return_inverse=True)
        units = np.bincount(index, weights=arr) / np.bincount(index)
    n = int(units.size)
    if n == 1:
        return 1.0, 5.0
    squares = float(np.sum((units - units.mean()) ** 2))  # (n - 1) v
    s2 = (squares + 1.0) / n
    half = t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * math.sqrt(s2 / n)
    return max(1.0, centre - half), min(5.0, centre + half)


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


# ---------------------------------------------------------------- version 3: unscored replies
#
# PROTOCOL section 7 (version 3). A rate's per-reply values are 0/1 flags, NaN for a reply the
# judge could not score. For a rate where a worse answer raises it (harm, inappropriate,
# enabling, over-refusal, bare refusal, miss) the upper limit counts unscored replies as
# failures; for one where a better answer raises it (appropriate, full, referral, detection
# accuracy) the lower limit does. The point estimate is over scored replies only.


def clustered_wilson(flags: ArrayLike, clusters: Sequence[object] | None = None, z: float = 1.96) -> Interval:
    """Wilson interval of the share of 1s among 0/1 `flags`, replies clustered by `clusters`
    (the item each reply answers); (nan, nan) for no flags.

    Without clusters, or with one reply per cluster, this is `wilson(k, n)`. With several
    replies per item the replies are not independent, so the interval is Wilson's on an
    effective sample size n / deff, where deff is the design effect of the ratio estimator
    (cluster-robust variance sum_i (y_i - p m_i)^2 / N^2 over the binomial p (1 - p) / N,
    never below 1); where every reply agrees (p = 0 or 1) the variance is unknown and the
    items are the unit (n_eff = the number of items). Deterministic; see docs/methodology.md.
    """
    arr = np.asarray(flags, dtype=np.float64).ravel()
    n = int(arr.size)
    if n == 0:
        return NAN_INTERVAL
    if not np.all((arr == 0.0) | (arr == 1.0)):
        raise ValueError("flags must be 0 or 1")
    k = int(arr.sum())
    if clusters is None:
        return wilson(k, n, z)
    if len(clusters) != n:
        raise ValueError(f"{n} flags but {len(clusters)} cluster labels")
    _, index = np.unique(np.asarray([str(c) for c in clusters], dtype=object), return_inverse=True)
    sizes = np.bincount(index)
    if int(sizes.max()) == 1:
        return wilson(k, n, z)
    p = k / n
    if k in (0, n):
        n_eff = float(sizes.size)
    else:
        sums = np.bincount(index, weights=arr)
        variance = float(np.sum((sums - p * sizes) ** 2)) / (n * n)
        deff = max(1.0, variance / (p * (1.0 - p) / n))
        n_eff = n / deff
    return wilson_proportion(p, n_eff, z)


@dataclass(frozen=True, slots=True)
class RateFigure:
    """One category's figure for one rate, with its unscored replies accounted for.

    `estimate` is over scored replies (None when none is scored); `lo`/`hi` is the interval
    shown, with the worst-case side counting unscored replies as failures; `worst` is that
    worst-case point ((k + U) / (n + U) for a rate where worse raises it, k / (n + U) for one
    where better raises it) and `worst_limit` the Wilson limit of it (u_c or l_c), which
    `overall_rate` combines. All None where the category has no reply the rate applies to.
    """

    estimate: float | None
    lo: float | None
    hi: float | None
    worst: float | None
    worst_limit: float | None
    scored: int = 0
    unscored: int = 0


def _limit(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def rate_figure(flags: ArrayLike, *, worse_raises: bool, clusters: Sequence[object] | None = None) -> RateFigure:
    """A category's rate from per-reply flags (1, 0, or NaN for unscored), PROTOCOL v3 section 7."""
    arr = np.asarray(flags, dtype=np.float64).ravel()
    if arr.size == 0:
        return RateFigure(None, None, None, None, None)
    missing = np.isnan(arr)
    scored = arr[~missing]
    scored_clusters = None if clusters is None else [c for c, m in zip(clusters, missing, strict=True) if not m]
    estimate = float(scored.mean()) if scored.size else None
    lo, hi = clustered_wilson(scored, scored_clusters)
    worst_flags = np.where(missing, 1.0 if worse_raises else 0.0, arr)
    worst_lo, worst_hi = clustered_wilson(worst_flags, clusters)
    worst = float(worst_flags.mean())
    shown: tuple[float | None, float | None]
    if worse_raises:
        shown = (_limit(lo), float(worst_hi))
        limit = float(worst_hi)
    else:
        shown = (float(worst_lo), _limit(hi))
        limit = float(worst_lo)
    return RateFigure(estimate, shown[0], shown[1], worst, limit, int(scored.size), int(missing.sum()))


def overall_rate(figures: Sequence[RateFigure], *, worse_raises: bool) -> tuple[float | None, Interval]:
    """The unweighted mean of category rates and its interval (PROTOCOL v3 section 7).

    The estimate is the mean over the categories with a scored reply. The side that unscored
    replies may not help is the worst-case MOVER arm over every category with a reply, w = 1/C:
    for a rate where worse raises it, p* = sum w (k_c + U_c) / (n_c + U_c) and
    U = p* + sqrt(sum (w (u_c - p*_c))^2) with u_c the Wilson upper limit of (k_c + U_c) of
    (n_c + U_c), so a category whose replies are all unscored enters with u_c = 1 and the upper
    limit never falls when a failure becomes unscored; mirrored for a rate where better raises
    it. The other side is plain MOVER over the categories with an estimate. Limits are nan
    where they cannot be computed.
    """
    present = [f for f in figures if f.worst is not None and f.worst_limit is not None]
    if not present:
        return None, NAN_INTERVAL
    defined = [f for f in present if f.estimate is not None]
    estimate = sum(f.estimate for f in defined if f.estimate is not None) / len(defined) if defined else None
    worst = np.asarray([f.worst for f in present], dtype=np.float64)
    limits = np.asarray([f.worst_limit for f in present], dtype=np.float64)
    w = 1.0 / worst.size
    point = float(worst.mean())
    if worse_raises:
        arm = math.sqrt(float(np.sum((w * (np.maximum(limits, worst) - worst)) ** 2)))
        worst_side = min(float(np.maximum(limits, worst).max()), point + arm)
        worst_side = max(worst_side, point, estimate if estimate is not None else 0.0)
    else:
        arm = math.sqrt(float(np.sum((w * (worst - np.minimum(limits, worst))) ** 2)))
        worst_side = max(float(np.minimum(limits, worst).min()), point - arm)
        worst_side = min(worst_side, point, estimate if estimate is not None else 1.0)
    best_side = math.nan
    if defined:
        p = np.asarray([f.estimate for f in defined], dtype=np.float64)
        other = np.asarray([f.lo if worse_raises else f.hi for f in defined], dtype=np.float64)
        if np.all(np.isfinite(other)):
            wd = 1.0 / p.size
            mean = float(p.mean())
            if worse_raises:
                low = np.minimum(other, p)
                best_side = max(float(low.min()), min(mean - math.sqrt(float(np.sum((wd * (p - low)) ** 2))), mean))
            else:
                high = np.maximum(other, p)
                best_side = min(float(high.max()), max(mean + math.sqrt(float(np.sum((wd * (high - p)) ** 2))), mean))
    return estimate, ((best_side, worst_side) if worse_raises else (worst_side, best_side))
