"""The one time-stamp format of stored records."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from evaluator.clock import iso_utc, now_iso


def test_now_iso_is_utc_to_the_second() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", now_iso())


def test_iso_utc_converts_to_utc_and_drops_the_fraction() -> None:
    moment = datetime(2026, 12, 4, 19, 22, 48, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(moment) == "2026-12-04T17:22:48+00:00"
    assert iso_utc(moment) == moment.astimezone(UTC).isoformat(timespec="seconds")
