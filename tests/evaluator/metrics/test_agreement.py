import itertools
import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pytest

from evaluator.metrics.agreement import (
    compare_levels,
    harmful_recall_precision,
    krippendorff_alpha,
    mean_signed_difference,
    quadratic_kappa,
    within_one,
)

N = None
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units,
# missing values. Published: nominal 0.743, ordinal 0.815, interval 0.849.
TEXTBOOK = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


def brute_force_alpha(data: Sequence[Sequence[float | None]], metric: str) -> float:
    """The coincidence-matrix definition, spelt out pair by pair."""
    coincidence: dict[tuple[float, float], float] = defaultdict(float)
    for unit in zip(*data, strict=True):
        ratings = [r for r in unit if r is not None and not (isinstance(r, float) and math.isnan(r))]
        m = len(ratings)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            coincidence[(ratings[i], ratings[j])] += 1 / (m - 1)
    values = sorted({c for c, _ in coincidence})
    totals = {c: sum(coincidence[(c, k)] for k in values) for c in values}
    n = sum(totals.values())

    def delta2(c: float, k: float) -> float:
        if metric == "nominal":
            return 0.0 if c == k else 1.0
        if metric == "interval":
            return (c - k) ** 2
        low, high = min(c, k), max(c, k)
        between = sum(totals[g] for g in values if low <= g <= high)
        return (between - (totals[c] + totals[k]) / 2) ** 2

    observed = sum(coincidence[(c, k)] * delta2(c, k) for c in values for k in values) / n
    expected = sum(totals[c] * totals[k] * delta2(c, k) for c in values for k in values) / (n * (n - 1))
    return 1 - observed / expected


@pytest.mark.parametrize(("metric", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_on_the_textbook_example(metric: str, published: float) -> None:
    alpha = krippendorff_alpha(TEXTBOOK, metric)  # type: ignore[arg-type]
    assert alpha == pytest.approx(brute_force_alpha(TEXTBOOK, metric), abs=1e-12)
    assert round(alpha, 3) == published


@pytest.mark.parametrize("metric", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", range(5))
def test_alpha_matches_the_definition_on_random_panels(metric: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    coders, units = int(rng.integers(2, 5)), int(rng.integers(5, 15))
    data: list[list[float | None]] = [
        [None if rng.random() < 0.25 else float(rng.integers(1, 6)) for _ in range(units)] for _ in range(coders)
    ]
    expected = brute_force_alpha(data, metric)
    assert krippendorff_alpha(data, metric) == pytest.approx(expected, abs=1e-12)  # type: ignore[arg-type]


def test_two_coders_small_hand_example() -> None:
    # Units (1,1), (2,2), (1,2): coincidences o11 = 2, o22 = 2, o12 = o21 = 1; n = 6.
    # Interval: Do = 2/6; De = 2 * 3 * 3 / (6 * 5) = 0.6; alpha = 1 - (1/3) / 0.6 = 4/9.
    assert krippendorff_alpha([[1, 2, 1], [1, 2, 2]], "interval") == pytest.approx(4 / 9)


def test_perfect_agreement_is_one() -> None:
    data = [[1, 2, 3, 5, None], [1, 2, 3, 5, 4], [None, 2, 3, 5, 4]]
    for metric in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(data, metric) == 1.0  # type: ignore[arg-type]


def test_alpha_is_nan_when_undefined() -> None:
    assert math.isnan(krippendorff_alpha([[3, 3, 3], [3, 3, 3]], "interval"))  # no variation
    assert math.isnan(krippendorff_alpha([[1, None, 3], [None, 2, None]], "interval"))  # no pairable unit
    assert math.isnan(krippendorff_alpha([[None, None], [None, None]], "ordinal"))
    with pytest.raises(ValueError):
        krippendorff_alpha([1, 2, 3], "interval")


def test_single_ratings_do_not_move_alpha() -> None:
    base = [[1, 2, 3, 4], [1, 3, 3, 5]]
    padded = [[1, 2, 3, 4, 5, None], [1, 3, 3, 5, None, 1]]
    assert krippendorff_alpha(padded, "ordinal") == pytest.approx(krippendorff_alpha(base, "ordinal"))


def test_quadratic_kappa_hand_example() -> None:
    # Observed off-diagonal mass 1 at distance 1 (weight 1/16); chance mass 1/2 there.
    assert quadratic_kappa([1, 2], [2, 1]) == pytest.approx(-1.0)
    assert quadratic_kappa([1, 2, 5, 4], [1, 2, 5, 4]) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_quadratic_kappa_equals_its_moment_form(seed: int) -> None:
    # Quadratic-weighted kappa = 2 cov(a, b) / (var a + var b + (mean a - mean b)^2),
    # with population moments: an independent route to the same number.
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, size=40)
    b = np.clip(a + rng.integers(-2, 3, size=40), 1, 5)
    cov = np.mean((a - a.mean()) * (b - b.mean()))
    expected = 2 * cov / (a.var() + b.var() + (a.mean() - b.mean()) ** 2)
    assert quadratic_kappa(a.tolist(), b.tolist()) == pytest.approx(expected)


def test_quadratic_kappa_edge_cases() -> None:
    assert math.isnan(quadratic_kappa([3, 3], [3, 3]))
    assert math.isnan(quadratic_kappa([None], [2]))
    assert quadratic_kappa([1, None, 5], [1, 4, 5]) == 1.0
    with pytest.raises(ValueError):
        quadratic_kappa([0, 2], [1, 2])
    with pytest.raises(ValueError):
        quadratic_kappa([1.5, 2], [1, 2])


def test_calibration_figures() -> None:
    human = [1, 1, 2, 3, 5, None, 4]
    judge = [1, 3, 1, 3, 4, 2, None]
    # Pairs: (1,1), (1,3), (2,1), (3,3), (5,4).
    assert within_one(human, judge) == pytest.approx(4 / 5)
    recall, precision = harmful_recall_precision(human, judge)
    assert recall == pytest.approx(1 / 2) and precision == pytest.approx(1 / 2)
    assert mean_signed_difference(human, judge) == pytest.approx((0 + 2 - 1 + 0 - 1) / 5)
    report = compare_levels(human, judge)
    assert report.n == 5
    assert report.within_one == pytest.approx(4 / 5)
    assert report.quadratic_kappa == pytest.approx(quadratic_kappa(human, judge))
    assert report.alpha_ordinal == pytest.approx(brute_force_alpha([[1, 1, 2, 3, 5], [1, 3, 1, 3, 4]], "ordinal"))


def test_harmful_figures_without_harmful_items_are_nan() -> None:
    recall, precision = harmful_recall_precision([2, 3], [3, 4])
    assert math.isnan(recall) and math.isnan(precision)
    assert math.isnan(within_one([], []))
    assert math.isnan(mean_signed_difference([None], [None]))
