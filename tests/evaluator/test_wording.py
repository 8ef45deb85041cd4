"""The shared wording helpers: the figures people read, and text cut to one line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluator.wording import MISSING, num, one_line, pct, pct_interval, text_table


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.25, 0, "25%"),
        (1, 0, "100%"),
        (np.float64(0.125), 1, "12.5%"),
        (np.int64(0), 2, "0.00%"),
        (0.0561, 2, "5.61%"),
    ],
)
def test_pct_formats_shares(value: object, digits: int, expected: str) -> None:
    assert pct(value, digits) == expected


@pytest.mark.parametrize("value", [None, math.nan, np.nan, True, "0.5", [0.5]])
def test_missing_figures_read_as_a_dash(value: object) -> None:
    assert pct(value) == MISSING
    assert num(value) == MISSING


def test_num_keeps_the_format_spec() -> None:
    assert num(0.123456) == "0.12"
    assert num(3, ".1f") == "3.0"
    assert num(np.float32(2.5), ".3f") == "2.500"


def test_pct_interval_shows_the_bounds_only_when_both_are_known() -> None:
    assert pct_interval(0.1, 0.05, 0.2) == "10.0% [5.0%, 20.0%]"
    assert pct_interval(0.1, 0.05, 0.2, digits=2) == "10.00% [5.00%, 20.00%]"
    assert pct_interval(0.1, None, 0.2) == "10.0%"
    assert pct_interval(0.1, 0.05, math.nan) == "10.0%"
    assert pct_interval(None, 0.05, 0.2) == MISSING


def test_one_line_blanks_unprintable_characters_and_collapses_whitespace() -> None:
    assert one_line("a\tb\n\nc\u200bd\u2028e  f ", 100) == "a b c d e f"


def test_one_line_cuts_long_text_at_the_limit_with_an_ellipsis() -> None:
    assert one_line("word " * 40, 12) == "word word w…"
    assert one_line("word " * 40, 11) == "word word…"  # the space before the cut is dropped
    assert one_line("x" * 12, 12) == "x" * 12


def test_one_line_blank_picks_the_characters_to_blank() -> None:
    assert one_line("a\ue000b\u200bc", 10, blank=lambda c: c == "\u200b") == "a\ue000b c"
    assert one_line("a\ue000b", 10) == "a b"  # private use is not printable


def test_text_table_pads_columns_under_a_rule_and_can_right_align_figures() -> None:
    rows = [("category", "n", "rate"), ("self_harm", "12", "4.0%"), ("anxiety", "3", "12.5%")]
    assert text_table(rows) == [
        "category   n   rate ",
        "---------  --  -----",
        "self_harm  12  4.0% ",
        "anxiety    3   12.5%",
    ]
    assert text_table(rows, figures_right=True) == [
        "category    n   rate",
        "---------  --  -----",
        "self_harm  12   4.0%",
        "anxiety     3  12.5%",
    ]
