"""The sorted chart of each model's harm rate with its interval (issue 23 point 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leaderboard.plots import ranking_figure


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["worse", "baseline:refusal", "tied-low-level", "best", "<b>x</b>"],
            "harm_rate": [0.4, 0.0, 0.1, 0.1, np.nan],
            "harm_rate_lo": [0.3, 0.0, 0.05, 0.05, np.nan],
            "harm_rate_hi": [0.5, 0.1, 0.2, 0.2, np.nan],
            "mean_level": [2.0, 2.0, 3.0, 4.0, 3.0],
            "is_baseline": [False, True, False, False, False],
        }
    )


def test_models_are_sorted_best_first_with_intervals_and_baselines_apart() -> None:
    figure = ranking_figure(_rows())
    models, baselines = figure.data
    assert list(models.y) == ["best", "tied-low-level", "worse"]  # harm, then the higher mean level
    assert list(baselines.y) == ["baseline:refusal"] and baselines.marker.symbol == "x"
    assert np.allclose(models.x, [10.0, 10.0, 40.0])
    assert np.allclose(models.error_x.array, [10.0, 10.0, 10.0]) and np.allclose(
        models.error_x.arrayminus, 5.0 * np.array([1, 1, 2])
    )
    # Top of the axis is the best model; the baseline is at the bottom; no harm rate, no point.
    assert list(figure.layout.yaxis.categoryarray) == ["baseline:refusal", "worse", "tied-low-level", "best"]
    assert figure.layout.height >= 140 + 34 * 4


def test_nothing_to_chart_says_so() -> None:
    empty = ranking_figure(_rows().iloc[[4]])
    assert empty.data == () and "No models" in empty.layout.annotations[0].text
    assert ranking_figure(pd.DataFrame({"model": []})).layout.annotations[0].text.startswith("No models")
