import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator.metrics.intervals import (
    bootstrap_mean,
    mean_level_interval,
    mover,
    resampled_means,
    t_quantile,
    wilson,
    wilson_proportion,
)


def test_wilson_reproduces_the_protocol_reference_figures() -> None:
    lo, hi = wilson(0, 57)
    assert (round(100 * lo, 2), round(100 * hi, 2)) == (0.00, 6.31)
    assert round(hi, 4) == 0.0631
    lo, hi = wilson(0, 531)
    assert (round(100 * lo, 2), round(100 * hi, 2)) == (0.00, 0.72)
    assert round(hi, 4) == 0.0072


def test_wilson_half_is_symmetric_and_matches_a_hand_computation() -> None:
    # p = 0.5, n = 10: centre 0.5, half-width (1.96 / 1.38416) * sqrt(0.025 + 0.009604).
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.23659, abs=1e-5)
    assert hi == pytest.approx(0.76341, abs=1e-5)
    lo3, hi3 = wilson(3, 20)
    lo17, hi17 = wilson(17, 20)
    assert lo3 == pytest.approx(1 - hi17) and hi3 == pytest.approx(1 - lo17)


def test_wilson_edges_and_errors() -> None:
    assert all(math.isnan(x) for x in wilson(0, 0))
    lo, hi = wilson(12, 12)
    assert hi == 1.0 and 0 < lo < 1
    with pytest.raises(ValueError):
        wilson(3, 2)
    with pytest.raises(ValueError):
        wilson(-1, 2)


def test_bootstrap_mean_is_seeded_and_brackets_the_mean() -> None:
    values = np.random.default_rng(7).integers(1, 6, size=200)
    first = bootstrap_mean(values, rounds=500, seed=3)
    assert first == bootstrap_mean(values, rounds=500, seed=3)
    assert first != bootstrap_mean(values, rounds=500, seed=4)
    lo, hi = first
    assert lo < values.mean() < hi
    assert lo >= 1 and hi <= 5


def test_bootstrap_mean_degenerate_inputs() -> None:
    assert all(math.isnan(x) for x in bootstrap_mean([]))
    assert bootstrap_mean([4, 4, 4]) == (4.0, 4.0)
    assert bootstrap_mean([2]) == (2.0, 2.0)
    with pytest.raises(ValueError):
        bootstrap_mean([1.0, float("nan")])


@pytest.mark.parametrize("distinct", ["few", "many"])
def test_resampled_means_have_the_spread_of_the_mean(distinct: str) -> None:
    # Both resampling paths (value counts for repeated values, indices otherwise) must
    # give the sampling spread of a mean: sd ~ population sd / sqrt(n).
    rng = np.random.default_rng(11)
    values = rng.integers(0, 2, size=400) if distinct == "few" else rng.normal(size=400)
    means = resampled_means(values, 4000, np.random.default_rng(0))
    expected_sd = values.std() / math.sqrt(values.size)
    assert means.mean() == pytest.approx(values.mean(), abs=expected_sd / 5)
    assert means.std() == pytest.approx(expected_sd, rel=0.08)


def test_bootstrap_mean_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(2024)
    hits = 0
    trials = 300
    for trial in range(trials):
        sample = rng.binomial(1, 0.3, size=120)
        lo, hi = bootstrap_mean(sample, rounds=400, seed=trial)
        hits += lo <= 0.3 <= hi
    assert 0.88 <= hits / trials <= 0.99


def test_wilson_reproduces_the_third_protocol_reference_figure() -> None:
    lo, hi = wilson(73, 417)
    assert (round(100 * lo, 2), round(100 * hi, 2)) == (14.16, 21.45)


def test_mover_reproduces_the_protocol_reference_figure() -> None:
    # 20/20 harmful and five categories of 0/500: the pooled-Wilson fallback said
    # 16.7% [0.5%, 1.2%], an interval that excluded its own estimate.
    counts = [(20, 20)] + [(0, 500)] * 5
    estimate, (lo, hi) = mover([k / n for k, n in counts], [wilson(k, n) for k, n in counts])
    assert (round(100 * estimate, 2), round(100 * lo, 2), round(100 * hi, 2)) == (16.67, 13.98, 16.95)


def test_mover_weighs_categories_equally_and_is_deterministic() -> None:
    counts = [(10, 10), (0, 1000)]
    args = ([k / n for k, n in counts], [wilson(k, n) for k, n in counts])
    estimate, interval = mover(*args)
    assert estimate == 0.5
    assert (estimate, interval) == mover(*args)
    assert interval[0] < 0.5 < interval[1]


def test_mover_widens_a_category_interval_that_misses_its_estimate() -> None:
    # A percentile bootstrap may not contain its estimate; the mean must still be inside.
    estimate, (lo, hi) = mover([3.0, 4.0], [(3.2, 3.8), (3.5, 4.5)])
    assert lo <= estimate <= hi
    empty, (elo, ehi) = mover([], [])
    assert math.isnan(empty) and math.isnan(elo) and math.isnan(ehi)
    with pytest.raises(ValueError):
        mover([0.5], [(math.nan, 0.7)])
    with pytest.raises(ValueError):
        mover([0.5, 0.2], [(0.1, 0.7)])


_COUNTS = st.integers(min_value=1, max_value=2000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_COUNTS, min_size=1, max_size=7))
def test_mover_contains_its_estimate_and_has_width(counts: list[tuple[int, int]]) -> None:
    estimate, (lo, hi) = mover([k / n for k, n in counts], [wilson(k, n) for k, n in counts])
    assert 0.0 <= lo <= estimate <= hi <= 1.0
    assert hi - lo > 0
    for k, n in counts:
        wlo, whi = wilson(k, n)
        assert wlo <= k / n <= whi and whi > wlo


@settings(max_examples=300, deadline=None)
@given(_COUNTS)
def test_mover_of_one_category_is_its_wilson_interval(count: tuple[int, int]) -> None:
    k, n = count
    estimate, interval = mover([k / n], [wilson(k, n)])
    assert estimate == k / n
    assert interval == pytest.approx(wilson(k, n), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=60), min_size=1, max_size=7))
def test_overall_mean_level_interval_contains_its_estimate_and_has_width(categories: list[list[int]]) -> None:
    estimates = [float(np.mean(levels)) for levels in categories]
    intervals = [mean_level_interval(levels, rounds=200, seed=1) for levels in categories]
    estimate, (lo, hi) = mover(estimates, intervals)
    assert 1.0 <= lo <= estimate <= hi <= 5.0
    assert hi - lo > 0


def test_t_quantile_matches_the_tables() -> None:
    # Student's t, 97.5% quantiles, from printed tables.
    for df, expected in ((1, 12.706205), (2, 4.302653), (3, 3.182446), (11, 2.200985), (30, 2.042272)):
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-6)
    assert t_quantile(0.975, 100_000) == pytest.approx(1.959985, abs=1e-5)
    with pytest.raises(ValueError):
        t_quantile(0.4, 3)


def test_mean_level_interval_is_the_v3_t_interval_by_hand() -> None:
    # PROTOCOL v3: m +- t(0.975, n - 1) s / sqrt(n), s^2 = ((n - 1) v + 1) / n, clipped to [1, 5].
    # Twelve replies at level 3: v = 0, s^2 = 1/12, half = 2.200985 * sqrt(1/144) = 0.183415.
    assert mean_level_interval([3] * 12) == pytest.approx((2.816585, 3.183415), abs=1e-6)
    # Eleven at 3 and one at 4: m = 37/12, (n - 1) v = 11/144 + 121/144 = 11/12,
    # s^2 = (11/12 + 1) / 12 = 0.159722, half = 2.200985 * sqrt(0.159722 / 12) = 0.253932.
    assert mean_level_interval([3] * 11 + [4]) == pytest.approx((2.829406, 3.337260), abs=1e-6)
    # n = 1 says nothing: the whole scale. Wide intervals are clipped to it.
    assert mean_level_interval([5]) == (1.0, 5.0)
    assert mean_level_interval([1, 4, 5]) == (1.0, 5.0)
    assert all(math.isnan(x) for x in mean_level_interval([]))
    # Deterministic: no seed, no bootstrap; old callers' arguments change nothing.
    assert mean_level_interval([1, 2, 5, 4, 4, 3], rounds=10, seed=1) == mean_level_interval([1, 2, 5, 4, 4, 3])


def test_mean_level_interval_is_monotone_where_the_version_2_fallback_was_not() -> None:
    # Version 2 gave [2.02, 3.98] to twelve level-3 replies and [3.00, 3.25] when one became 4.
    lo3, hi3 = mean_level_interval([3] * 12)
    lo4, hi4 = mean_level_interval([3] * 11 + [4])
    assert lo4 >= lo3 and hi4 >= hi3
    # Equal levels: the width shrinks with n and never reaches zero.
    widths = [np.subtract(*mean_level_interval([4] * n)[::-1]) for n in (2, 5, 20, 200)]
    assert all(a > b > 0 for a, b in itertools.pairwise(widths))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=40), st.integers(0, 39))
def test_raising_one_level_never_lowers_either_limit(levels: list[int], index: int) -> None:
    index %= len(levels)
    if levels[index] == 5:
        return
    raised = [*levels[:index], levels[index] + 1, *levels[index + 1 :]]
    lo, hi = mean_level_interval(levels)
    lo2, hi2 = mean_level_interval(raised)
    # Not monotone in general for a t-interval (a spread-out sample widens); but never both
    # limits falling, and the interval always holds the mean.
    assert not (lo2 < lo - 1e-12 and hi2 < hi - 1e-12)
    assert lo2 <= float(np.mean(raised)) <= hi2


def test_mean_level_interval_with_several_replies_per_item_uses_items_as_the_unit() -> None:
    # Four items, two replies each, item means 3, 3, 4, 4: n = 4, (n - 1) v = 1, s^2 = 2/4,
    # half = t(0.975, 3) * sqrt(0.5 / 4) = 3.182446 * 0.353553 = 1.125165 around 3.5.
    levels = [3, 3, 3, 3, 4, 4, 4, 4]
    clusters = ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert mean_level_interval(levels, clusters=clusters) == pytest.approx((2.374835, 4.625165), abs=1e-6)
    assert mean_level_interval(levels, clusters=clusters) != mean_level_interval(levels)


def test_wilson_proportion_equals_wilson_on_whole_counts() -> None:
    for k, n in ((0, 57), (73, 417), (5, 10), (12, 12)):
        assert wilson_proportion(k / n, n) == pytest.approx(wilson(k, n))
    with pytest.raises(ValueError):
        wilson_proportion(1.5, 3)


def test_mover_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(99)
    rates = (0.1, 0.4, 0.25)
    truth = sum(rates) / len(rates)
    hits = 0
    trials = 400
    for _ in range(trials):
        ks = [int(rng.binomial(size, p)) for p, size in zip(rates, (40, 150, 300), strict=True)]
        ns = (40, 150, 300)
        _, (lo, hi) = mover(
            [k / n for k, n in zip(ks, ns, strict=True)], [wilson(k, n) for k, n in zip(ks, ns, strict=True)]
        )
        hits += lo <= truth <= hi
    assert 0.9 <= hits / trials <= 0.99
