import math

import numpy as np
import pytest

from evaluator.metrics.intervals import bootstrap_mean, resampled_means, stratified_bootstrap, wilson


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


def test_stratified_bootstrap_weighs_categories_equally() -> None:
    # A small all-harmful category and a large harmless one: the overall figure is 0.5
    # whatever the resample, not 10 / 1010.
    assert stratified_bootstrap([np.ones(10), np.zeros(1000)]) == (0.5, 0.5)


def test_stratified_bootstrap_skips_empty_categories_and_accepts_mappings() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.integers(1, 6, size=30), rng.integers(1, 6, size=80)
    base = stratified_bootstrap([a, b], rounds=300, seed=9)
    assert base == stratified_bootstrap([a, [], b], rounds=300, seed=9)
    assert base == stratified_bootstrap({"x": a, "y": b}, rounds=300, seed=9)
    assert base != stratified_bootstrap([a, b], rounds=300, seed=10)
    assert all(math.isnan(x) for x in stratified_bootstrap([[], []]))
    assert all(math.isnan(x) for x in stratified_bootstrap({}))


def test_stratified_bootstrap_of_one_category_is_the_plain_bootstrap() -> None:
    values = np.random.default_rng(1).integers(0, 2, size=50)
    assert stratified_bootstrap([values], rounds=200, seed=4) == bootstrap_mean(values, rounds=200, seed=4)


def test_stratified_bootstrap_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(99)
    rates = (0.1, 0.4, 0.25)
    truth = sum(rates) / len(rates)
    hits = 0
    trials = 300
    for trial in range(trials):
        groups = [rng.binomial(1, p, size=size) for p, size in zip(rates, (40, 150, 300), strict=True)]
        lo, hi = stratified_bootstrap(groups, rounds=400, seed=trial)
        hits += lo <= truth <= hi
    assert 0.88 <= hits / trials <= 0.99
