"""Words and figures for text people read: counts ("1 row", "2 rows", never "1 rows"),
percentages and numbers with a dash for a missing value, text cut to one line."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Final

MISSING: Final = "—"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and the noun in the number it takes (`plural` for an irregular one)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _figure(value: Any) -> float | None:
    """`value` as a float, or None when it is missing: None, NaN, or not a real number at all
    (a bool is not a figure; numpy scalars are)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def pct(value: Any, digits: int = 0) -> str:
    """A share (0.42) as a percentage with `digits` decimals ("42%"); MISSING for a missing value."""
    number = _figure(value)
    return MISSING if number is None else f"{number:.{digits}%}"


def num(value: Any, spec: str = ".2f") -> str:
    """A number in the format `spec`; MISSING for a missing value."""
    number = _figure(value)
    return MISSING if number is None else format(value, spec)


def pct_interval(value: Any, lo: Any, hi: Any, digits: int = 1) -> str:
    """A share with its interval ("12.5% [8.0%, 18.1%]"); the share alone when a bound is missing,
    MISSING when the share is."""
    if _figure(value) is None:
        return MISSING
    if _figure(lo) is None or _figure(hi) is None:
        return pct(value, digits)
    return f"{pct(value, digits)} [{pct(lo, digits)}, {pct(hi, digits)}]"


def _unprintable(char: str) -> bool:
    return not char.isprintable()


def one_line(text: str, limit: int, *, blank: Callable[[str], bool] = _unprintable) -> str:
    """`text` as one line of at most `limit` characters: each character `blank` picks (by default
    every one that is not printable: controls, format characters, line breaks) and each run of
    whitespace becomes one space; a longer text is cut, ending in "…"."""
    cleaned = " ".join("".join(" " if blank(c) else c for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def text_table(rows: Sequence[Sequence[str]], *, figures_right: bool = False) -> list[str]:
    """Rows of cells, the header first, as the lines of a terminal table: columns two spaces
    apart and padded to their widest cell, a rule of dashes under the header. `figures_right`:
    the columns after the first are right-aligned (figures under their names)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if figures_right and i else cell.ljust(widths[i]) for i, cell in enumerate(row)
        )

    return [line(rows[0]), "  ".join("-" * w for w in widths), *(line(row) for row in rows[1:])]


__all__ = ["MISSING", "counted", "num", "one_line", "pct", "pct_interval", "text_table"]
