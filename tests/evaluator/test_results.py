"""The schema module's ranking rule and display rounding."""

from __future__ import annotations

import math

import numpy as np

from evaluator.results import DISPLAY_ROUNDING, RANKING_KEY, ranking_key, ranking_order


def test_ranking_key_is_harm_ascending_then_level_descending_then_model() -> None:
    assert [column for column, _ in RANKING_KEY] == ["harm_rate", "mean_level", "model"]
    rows = [(0.2, 2.0, "a"), (0.1, 1.5, "z"), (0.1, 1.9, "y"), (0.1, 1.9, "b")]
    ordered = sorted(rows, key=lambda r: ranking_key(*r))
    assert [r[2] for r in ordered] == ["b", "y", "z", "a"]


def test_missing_figures_sort_last() -> None:
    assert ranking_key(None, 2.0) > ranking_key(0.9, 1.0)
    assert ranking_key(0.1, math.nan) > ranking_key(0.1, 1.0)


def test_ranking_order_agrees_with_ranking_key() -> None:
    rng = np.random.default_rng(7)
    harm = rng.choice([0.0, 0.1, 0.2, math.nan], size=40)
    level = rng.choice([1.0, 1.5, 2.0, math.nan], size=40)
    models = np.array([f"m{i:02d}" for i in rng.permutation(40)])
    order = ranking_order(harm, level, models)
    expected = sorted(range(40), key=lambda i: ranking_key(harm[i], level[i], str(models[i])))
    assert order.tolist() == expected


def test_ranking_order_without_names_keeps_ties_in_input_order() -> None:
    assert ranking_order([0.1, 0.0, 0.1, 0.1], [1.0, 1.0, 2.0, 1.0]).tolist() == [1, 2, 0, 3]


def test_display_rounding_kinds() -> None:
    assert DISPLAY_ROUNDING == {"rate": (1, 100.0), "level": (2, 1.0), "ratio": (2, 1.0)}
