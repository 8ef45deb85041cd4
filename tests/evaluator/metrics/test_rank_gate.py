"""PROTOCOL section 7's ranked rule, shared by the tracks."""

from __future__ import annotations

import pytest

from evaluator.metrics.scoring import UNSCORED_RANK_LIMIT, rank_gate


def _gate(harm: float | None, unscored: float | None) -> tuple[bool, str | None]:
    return rank_gate(harm, unscored, none_scored="nothing scored", too_many=lambda rate: f"{rate:.2f} unscored")


@pytest.mark.parametrize(
    ("harm", "unscored", "expected"),
    [
        (0.1, 0.0, (True, None)),
        (0.1, None, (True, None)),
        (0.1, UNSCORED_RANK_LIMIT, (True, None)),  # at the limit is still ranked
        (0.1, 0.06, (False, "0.06 unscored")),
        (None, 0.0, (False, "nothing scored")),
        (None, 0.5, (False, "nothing scored")),  # no score at all says so first
    ],
)
def test_rank_gate(harm: float | None, unscored: float | None, expected: tuple[bool, str | None]) -> None:
    assert _gate(harm, unscored) == expected
