"""A trailing newline (or another spelling) is not a new user; ids match whole strings (issue 10.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evaluator.backends import SpecError, parse_spec
from submissions.ratelimit import RateLimit
from submissions.records import RequestRecord, Status, is_request_id
from submissions.validation import submitter_problem

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def record(n: int, submitter: str) -> RequestRecord:
    at = NOW - timedelta(hours=n + 1)
    return RequestRecord(
        id=f"20261201-00000{n}-abcd", model=f"org/m{n}", model_type="open-weight", spec=f"hf:org/m{n}",
        submitter=submitter, status=Status.PENDING, submitted_at=at, updated_at=at,
    )  # fmt: skip


@pytest.mark.parametrize("spelling", ["alice\n", "Alice", " alice ", "ＡＬＩＣＥ", "alice\r\n"])
def test_another_spelling_of_a_user_gets_no_more_submissions(spelling: str) -> None:
    used = [record(n, "alice") for n in range(5)]
    assert submitter_problem(spelling) is None  # valid, as the same person
    assert RateLimit(limit=5).refusal(used, spelling, NOW, maintainer=False) is not None
    assert record(9, spelling).submitter == "alice"  # stored normalised


def test_user_names_and_ids_are_matched_as_whole_strings() -> None:
    assert submitter_problem("ali ce") is not None and submitter_problem("alice\nbob") is not None
    assert not is_request_id("20261201-000000-abcd\n") and is_request_id("20261201-000000-abcd")
    with pytest.raises(SpecError):
        parse_spec("hf:org/name\n")
