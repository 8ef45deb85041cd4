"""Fuzzing the validator with hostile strings: each is rejected with a reason, nothing is written.

The strings are generated from a fixed seed (reproducible failures) by planting hostile
fragments into otherwise valid ids, so each case is hostile for exactly the planted reason.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from evaluator.storage import DataDir
from submissions.errors import SubmissionRejected, UnknownRequest
from submissions.intake import request_api_model, submit
from submissions.queue import Queue
from submissions.ratelimit import RateLimit
from submissions.validation import Validator
from tests.submissions.conftest import TARGET, snapshot
from tests.support.hub import ScriptedHub

GOOD = "good-org/good-model"
SEED = 20250301
CASES = 400

# Each fragment makes any id it is planted in invalid, wherever it lands.
HOSTILE = [
    "../",
    "..",
    "/../../etc/passwd",
    "/",
    "\\..\\",
    "C:\\Windows",
    "~root",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "{{7*7}}",
    "$(rm -rf /)",
    "`id`",
    "; DROP TABLE requests;",
    "\u0430",  # Cyrillic a, looks like Latin a
    "\u043e\u0440\u0433",  # Cyrillic "org"
    "\u03bf",  # Greek omicron
    "\uff0f",  # fullwidth solidus
    "\u2215",  # division slash
    "\u2024\u2024",  # one-dot leaders, look like ".."
    "\u202e",  # right-to-left override
    "\u202d",
    "\u2066",
    "\u200f",
    "\u200b",  # zero-width space
    "\u200d",
    "\ufeff",
    "\u2060",
    "\x00",
    "\n",
    "\r\n",
    "\t",
    "\x1b[31m",
    " ",
    "%00",
    "--",
    "@",
    "#",
    "?",
    "é",
    "\U0001f600",
]
PREFIXES = ["https://huggingface.co/", "http://evil.example/", "hf.co/", "/", "./", "../", "~/"]
SUFFIXES = [".", "..", "-", "/", "/.", ".git/..", "\n", "\x00"]


def hostile_ids(rng: random.Random, base: str = GOOD, allowed: frozenset[str] = frozenset()) -> Iterator[str]:
    """Hostile variants of `base`; `allowed` names fragments that are legitimate in this field."""
    fragments = [f for f in HOSTILE if f not in allowed]
    suffixes = [f for f in SUFFIXES if f not in allowed]
    prefixes = [f for f in PREFIXES if f not in allowed]
    yield base * 2000
    yield base + "\u202e" * 10_000
    yield "\u202e" * 10_000
    yield "../" * 3000
    yield ""
    yield ".."
    yield "."
    yield "/"
    for _ in range(CASES):
        text = base
        shape = rng.random()
        if shape < 0.15:
            text = rng.choice(prefixes) + text
        elif shape < 0.3:
            text = text + rng.choice(suffixes)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(fragments) + text[at:]
        if rng.random() < 0.05:
            text = text * rng.randint(50, 500)
        yield text


def check_reason(reason: str) -> None:
    assert reason, "rejected without a reason"
    assert "\n" not in reason and "\r" not in reason and len(reason) <= 300
    assert reason.isprintable() and reason.isascii(), repr(reason)
    assert "<script" not in reason and "onerror" not in reason and "../" not in reason


@pytest.fixture
def hostile() -> list[str]:
    fixed = ["a" * 10_000, "org/" + "n" * 10_000, "org/name.", "org./name", "https://huggingface.co/org/name"]
    return fixed + list(hostile_ids(random.Random(SEED)))


# Fragments that are fine inside the field: git branch names may hold '/', '--' and end in
# '-' (so "hf.co/main" is a branch name); user names may hold '--'.
FIELD_BASES = {
    "revision": ("main", frozenset({"/", "--", "-", "hf.co/"})),
    "submitter": ("alice", frozenset({"--"})),
    "precision": ("bfloat16", frozenset()),
}


def test_hostile_model_ids(
    queue: Queue, validator: Validator, hub: ScriptedHub, data: DataDir, hostile: list[str]
) -> None:
    data.root.mkdir(parents=True)
    before = snapshot(data.root)
    for text in hostile:
        with pytest.raises(SubmissionRejected) as info:
            submit(queue, validator, model=text, submitter="alice")
        assert info.value.check == "well_formed", repr(text[:80])
        check_reason(info.value.reason)
    assert hub.calls == [], "a hostile id reached the Hub"
    assert snapshot(data.root) == before


@pytest.mark.parametrize("field", ["revision", "submitter", "precision"])
def test_hostile_revisions_submitters_and_precisions(
    queue: Queue, validator: Validator, hub: ScriptedHub, data: DataDir, field: str
) -> None:
    base, allowed = FIELD_BASES[field]
    for candidate in list(hostile_ids(random.Random(SEED), base, allowed))[:200]:
        # A good model id with a hostile revision (etc.): only the hostile field can be at fault.
        kwargs: dict[str, Any] = {"model": GOOD, "submitter": "alice", field: candidate}
        with pytest.raises(SubmissionRejected) as info:
            submit(queue, validator, **kwargs)
        assert info.value.check == "well_formed", (field, repr(candidate[:80]))
        check_reason(info.value.reason)
    assert hub.calls == []
    assert not data.root.exists()


def test_hostile_api_requests(queue: Queue, data: DataDir) -> None:
    rng = random.Random(SEED)
    # Provider model names may hold '/', '@', '.' ("hf.co/x", "gpt-x/." are odd but harmless).
    names = list(hostile_ids(rng, "gpt-x", frozenset({"/", "@", "--", "-", ".", "/.", "hf.co/"})))[:200]
    urls = list(hostile_ids(rng, "https://api.example.com/v1", frozenset({"/", "--", "-", ".", "~root"})))[:200]
    for model, url in [*((n, "https://api.example.com/v1") for n in names), *(("gpt-x", u) for u in urls)]:
        with pytest.raises(SubmissionRejected) as info:
            request_api_model(
                queue, model=model, base_url=url, submitter="alice", target=TARGET, rate_limit=RateLimit()
            )
        check_reason(info.value.reason)
    assert not data.root.exists()


def test_hostile_request_ids(queue: Queue, data: DataDir, hostile: list[str]) -> None:
    for text in [*hostile[:150], "../requests/x", "/etc/passwd", "x/../../y"]:
        with pytest.raises(UnknownRequest):
            queue.get(text)
        with pytest.raises(UnknownRequest):
            queue.cancel(text, user="alice", maintainer=True)
        with pytest.raises(UnknownRequest):
            queue.retry(text, maintainer=True)
    assert not data.root.exists()
