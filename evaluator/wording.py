"""Counts in words for messages people read: "1 row", "2 rows", never "1 rows"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and the noun in the number it takes (`plural` for an irregular one)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


__all__ = ["counted"]
