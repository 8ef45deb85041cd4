"""Per-user submission rate limit: N requests per rolling window, maintainers exempt.

Every request a user made counts, whatever became of it: a model that failed validation
wrote nothing and so costs nothing, but a queued one that later failed did use the Hub and
the worker, and cancelling it must not be a way around the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from submissions.records import RequestRecord, normalise_user


@dataclass(frozen=True)
class RateLimit:
    limit: int = 5
    window: timedelta = timedelta(days=7)

    def used(self, records: Iterable[RequestRecord], user: str, now: datetime) -> list[datetime]:
        """When this user's requests inside the window were made, oldest first."""
        since = now - self.window
        who = normalise_user(user)
        return sorted(r.submitted_at for r in records if normalise_user(r.submitter) == who and r.submitted_at > since)

    def refusal(self, records: Iterable[RequestRecord], user: str, now: datetime, *, maintainer: bool) -> str | None:
        """The reason this user may not submit now, or None if they may."""
        if maintainer:
            return None
        if self.limit <= 0:
            return "submissions are closed at the moment (the rate limit is 0)"
        times = self.used(records, user, now)
        if len(times) < self.limit:
            return None
        # The slot that frees first is the one taken by the request that leaves the window first.
        frees_at = (times[len(times) - self.limit] + self.window).astimezone(UTC)
        days = self.window / timedelta(days=1)
        span = f"{days:g} days" if days != 1 else "day"
        return (
            f"rate limit reached: {len(times)} submissions in the last {span} (limit {self.limit}); "
            f"try again after {frees_at:%Y-%m-%d %H:%M} UTC"
        )
