"""The time stamps stored in run records, sets, conversations and public files: one format
everywhere, UTC to the second with its offset ("2026-12-04T17:22:48+00:00")."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """`moment` (timezone-aware) in UTC to the second, ISO 8601 with its offset."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def now_iso() -> str:
    """Now, as iso_utc writes it."""
    return iso_utc(datetime.now(UTC))


__all__ = ["iso_utc", "now_iso"]
