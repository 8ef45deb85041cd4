import numpy as np
import pandas as pd
import pytest

from evaluator.metrics.ranking import rank_intervals, rank_table


def test_separated_intervals_give_exact_ranks() -> None:
    ranks = rank_intervals([0.5, 0.1, 0.3], [0.45, 0.05, 0.25], [0.55, 0.15, 0.35], [3.0, 4.0, 3.5])
    assert ranks.order.tolist() == [1, 2, 0]
    assert ranks.rank.tolist() == [3, 1, 2]
    assert ranks.rank_lo.tolist() == [3, 1, 2]
    assert ranks.rank_hi.tolist() == [3, 1, 2]


def test_overlapping_intervals_share_ranks() -> None:
    # A and B overlap; C is clearly worse than both.
    ranks = rank_intervals([0.10, 0.15, 0.40], [0.05, 0.08, 0.30], [0.20, 0.25, 0.50], [4.0, 4.0, 3.0])
    assert ranks.rank.tolist() == [1, 2, 3]
    assert list(zip(ranks.rank_lo.tolist(), ranks.rank_hi.tolist(), strict=True)) == [(1, 2), (1, 2), (3, 3)]


def test_a_chain_of_overlaps() -> None:
    # A overlaps B, B overlaps C, A and C are separated.
    ranks = rank_intervals([0.1, 0.25, 0.4], [0.0, 0.15, 0.3], [0.2, 0.35, 0.5], [4, 4, 4])
    assert list(zip(ranks.rank_lo.tolist(), ranks.rank_hi.tolist(), strict=True)) == [(1, 2), (1, 3), (2, 3)]


def test_ties_are_broken_by_mean_level_then_shared() -> None:
    ranks = rank_intervals([0.2, 0.2, 0.2], [0.1, 0.1, 0.1], [0.3, 0.3, 0.3], [3.5, 4.0, 3.5])
    assert ranks.order.tolist() == [1, 0, 2]
    assert ranks.rank.tolist() == [2, 1, 2]
    assert ranks.rank_lo.tolist() == [1, 1, 1]
    assert ranks.rank_hi.tolist() == [3, 3, 3]


def test_float_noise_does_not_break_a_tie() -> None:
    ranks = rank_intervals([0.1 + 0.2, 0.3], [0.2, 0.2], [0.4, 0.4], [4.0, 4.0])
    assert ranks.rank.tolist() == [1, 1]


def test_missing_bounds_fall_back_to_the_point_and_the_interval_holds_the_point_rank() -> None:
    ranks = rank_intervals([0.1, 0.3], [np.nan, 0.25], [np.nan, 0.35], [4.0, np.nan])
    assert ranks.rank_lo.tolist() == [1, 2] and ranks.rank_hi.tolist() == [1, 2]
    # An interval that misses its own point estimate still yields a rank interval holding it.
    odd = rank_intervals([0.2, 0.1], [0.25, 0.0], [0.3, 0.15], [4.0, 4.0])
    assert odd.rank.tolist() == [2, 1]
    assert odd.rank_lo[0] <= 2 <= odd.rank_hi[0]


def test_a_model_without_a_harm_rate_cannot_be_ranked() -> None:
    with pytest.raises(ValueError):
        rank_intervals([0.1, np.nan], [0.0, 0.0], [0.2, 0.2], [4.0, 4.0])


def test_rank_table_sorts_and_adds_columns() -> None:
    frame = pd.DataFrame(
        {
            "model": ["worse", "better"],
            "harm_rate": [0.30, 0.05],
            "harm_rate_lo": [0.20, 0.01],
            "harm_rate_hi": [0.40, 0.12],
            "mean_level": [3.1, None],
        }
    )
    table = rank_table(frame)
    assert table["model"].tolist() == ["better", "worse"]
    assert table[["rank", "rank_lo", "rank_hi"]].to_numpy().tolist() == [[1, 1, 1], [2, 2, 2]]
    assert "rank" not in frame.columns
