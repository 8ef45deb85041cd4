"""The time stamps stored in run records, sets and conversations: one format everywhere."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    """Now in UTC to the second, ISO 8601 with its offset: "2026-12-04T17:22:48+00:00"."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


__all__ = ["now_iso"]
