"""A hostile search cannot stall the server (issue 10.1): bounded before any work, one pass."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import pytest
from gradio_client import Client
from gradio_client.exceptions import ValidationError

from leaderboard.limits import MAX_SEARCH_ALTERNATIVES, MAX_SEARCH_CHARS, MAX_SEARCH_WORDS
from leaderboard.query import Filters, Leaderboard, QueryError, QueryResult, search_mask, search_terms
from space.guard import REFUSAL_DELAY_S
from tests.space.conftest import Served, api_call, event_index, leaderboard_values

HOSTILE_2KB = ";".join(["a b c d e f g h"] * 128)[:2048]


def test_search_bounds_are_checked_before_any_work() -> None:
    with pytest.raises(QueryError, match="too long"):
        search_terms("x" * (MAX_SEARCH_CHARS + 1))
    with pytest.raises(QueryError, match="too many alternatives"):
        search_terms(";".join("a" * (MAX_SEARCH_ALTERNATIVES + 1)))
    with pytest.raises(QueryError, match="too many words"):
        search_terms(" ".join("w" * (MAX_SEARCH_WORDS + 1)))
    with pytest.raises(QueryError):
        Filters(search=HOSTILE_2KB).validated()
    # Within the bounds: still a search, and never a regular expression.
    names = pd.Series(["acme/Safe-7B", "org/llama.cpp", "x/(a+)+$", None])
    assert search_mask(names, "safe 7b; llama.cpp").tolist() == [True, True, False, False]
    assert search_mask(names, "(a+)+$").tolist() == [False, False, True, False]
    assert search_mask(names, ".*").tolist() == [False, False, False, False]


def test_the_largest_allowed_search_is_one_cheap_pass() -> None:
    names = pd.Series([f"org-{i}/model-{i}-instruct" for i in range(20_000)])
    worst = ";".join(["model instruct"] * MAX_SEARCH_ALTERNATIVES)[:MAX_SEARCH_CHARS]
    search_terms(worst)  # allowed
    start = time.process_time()
    mask = search_mask(names, worst)
    spent = time.process_time() - start
    assert bool(mask.all())
    assert spent < 5.0  # a generous bound on a shared machine; the benchmark measures it


def test_the_public_endpoint_refuses_a_hostile_search_with_one_line(served: Served) -> None:
    client = Client(served.url, verbose=False, download_files=False)
    with pytest.raises(ValidationError) as info:
        client.predict(search=HOSTILE_2KB, api_name="/leaderboard")
    # Gradio's own validation answer: the client's header, then one line naming the search.
    header, *lines = str(info.value).strip().splitlines()
    assert header == "1 parameter(s) failed validation:"
    assert lines == ["- search: the search is too long (2047 characters; at most 256)"]
    # Ordinary searches still answer.
    table = client.predict(search="acme; org", api_name="/leaderboard")
    assert table["data"]


@pytest.mark.parametrize("how", ["call", "join"])
def test_a_hostile_search_is_refused_at_the_door(served: Served, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Refused before Gradio queues anything: no event, no query, no result stream to read."""
    queried: list[Filters] = []
    real_query = Leaderboard.query

    def counted(self: Leaderboard, filters: Filters = Filters()) -> QueryResult:
        queried.append(filters)
        return real_query(self, filters)

    monkeypatch.setattr(Leaderboard, "query", counted)
    queue = served.demo._queue
    events_before = queue.events_recorded
    values = leaderboard_values(HOSTILE_2KB, columns=["harm_rate"], limit=10)
    started = time.monotonic()
    if how == "call":
        answer = httpx.post(served.url + "gradio_api/call/leaderboard", json={"data": values}, timeout=30)
    else:
        fn_index = event_index(served.url, "leaderboard")
        body = {"data": values, "fn_index": fn_index, "session_hash": "door", "event_data": None, "trigger_id": None}
        answer = httpx.post(served.url + "gradio_api/queue/join", json=body, timeout=30)
    assert answer.status_code == 422
    assert time.monotonic() - started >= REFUSAL_DELAY_S  # a looping sender is slowed down
    detail = answer.json()["detail"]
    assert len(detail) == len(values) and detail[3]["is_valid"] is False
    assert detail[3]["message"].startswith("the search is too long") and detail[3]["parameter_name"] == "search"
    assert all(d["is_valid"] for i, d in enumerate(detail) if i != 3)
    assert queue.events_recorded == events_before and queried == []
    # Not a regular expression, not cut: a search within the bounds passes the door.
    values[3] = f"(a+)+$ {how}"
    event, _ = api_call(served.url, "leaderboard", values)
    assert event == "complete" and [f.search for f in queried] == [f"(a+)+$ {how}"]
