"""The REST API at /api/v1, over real HTTP against the Space launched in-process."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from evaluator.backends import BackendOptions
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.results import RESULT_COLUMNS
from evaluator.storage import DataDir
from leaderboard.export import shown_table_csv
from leaderboard.hidden import hide_model
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from space.api import MAX_SEARCH_CHARS
from space.formatting import PARQUET_HREF, csv_href
from tests.space.conftest import Served, serve, serve_demo
from tests.space.test_secrecy import CANARY, private_set
from tests.support.results_factory import HOSTILE_NAME

API = "api/v1"


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A Space of its own: these tests hide a model, which the shared one must not see."""
    with serve_demo(tmp_path_factory, "rest") as app:
        yield app


@pytest.fixture(scope="module")
def http(own: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=own.url + API, timeout=30) as client:
        yield client


def models(body: dict[str, object]) -> list[str]:
    rows = body["rows"]
    assert isinstance(rows, list)
    return [row["model"] for row in rows]


def test_docs_and_openapi_describe_every_route(http: httpx.Client) -> None:
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = http.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/boards",
        "/leaderboard",
        "/leaderboard.csv",
        "/models/{model}",
        "/results.parquet",
        "/results.csv",
        "/results.json",
    }


def test_boards_list_set_versions_and_judges_with_counts(http: httpx.Client) -> None:
    body = http.get("/boards").json()
    boards = {(b["set_version"], b["judge"]): b for b in body["boards"]}
    assert ("v1", "judge-a") in boards and ("v0", "judge-a") in boards
    assert body["current"] == boards[("v1", "judge-a")]["key"]
    assert boards[("v1", "judge-a")]["models"] == 6
    assert boards[("v1", "judge-a")]["current"] is True
    assert not any(b["official"] for b in body["boards"] if b["judge"] == "heuristic")


def test_leaderboard_filters_as_the_page_does(http: httpx.Client) -> None:
    default = http.get("/leaderboard").json()
    assert default["matched"] == 6 and default["total"] == 6
    assert "acme/safe-7b" in models(default)
    assert not any(m in ("only/on-old", "only/heuristic") for m in models(default))
    acme = http.get(
        "/leaderboard", params={"search": "acme", "show_baselines": "false", "sort": "harm_rate", "descending": "true"}
    ).json()
    assert models(acme) == ["acme/mid-70b", "acme/safe-7b"]
    assert http.get("/leaderboard", params={"type": "api", "show_baselines": "false"}).json()["rows"][0]["model"] == (
        "api-chat"
    )
    sized = http.get("/leaderboard", params={"params_min": 5, "params_max": 100, "columns": "params_b"}).json()
    # The chosen columns, then the numbers behind them (tests/space/test_rest_numbers.py).
    assert list(sized["rows"][0])[:3] == ["rank", "model", "params_b"]
    assert sorted(r["params_b"] for r in sized["rows"]) == [7.0, 70.0]
    licensed = http.get("/leaderboard", params=[("license", "mit"), ("license", "llama3")]).json()
    assert sorted(models(licensed)) == ["acme/mid-70b", "other/risky-1b"]
    category = http.get(
        "/leaderboard", params={"category": "self_harm", "search": "mid-70b", "columns": "harm_rate"}
    ).json()
    assert category["rows"][0]["harm_rate"] == 50.0
    harm = http.get("/leaderboard", params={"harm_min": 40, "show_baselines": "false"}).json()
    assert models(harm) == ["other/risky-1b"]
    older = http.get("/leaderboard", params={"board": "heldout|v0|judge-a"}).json()
    assert "only/on-old" in models(older)


def test_limit_and_offset_page_through_the_matches(http: httpx.Client) -> None:
    every = models(http.get("/leaderboard", params={"limit": 0}).json())
    assert len(every) == 6
    pages = [models(http.get("/leaderboard", params={"limit": 2, "offset": o}).json()) for o in (0, 2, 4, 6)]
    assert [m for page in pages for m in page] == every
    assert pages[-1] == []


def test_names_are_plain_text(http: httpx.Client) -> None:
    body = http.get("/leaderboard", params={"search": "script"}).json()
    assert models(body) == [HOSTILE_NAME]  # as recorded: no Markdown escapes, no entities


def test_model_route_takes_ids_with_slashes(http: httpx.Client) -> None:
    body = http.get("/models/acme/safe-7b").json()
    assert body["model"] == "acme/safe-7b"
    assert body["overall"]["category"] == "overall" and body["overall"]["harm_rate"] == 0.0
    assert {row["Category"] for row in body["per_category"]} >= {"overall"} or body["per_category"]
    older = http.get("/models/acme/safe-7b", params={"board": "heldout|v0|judge-a"}).json()
    assert older["overall"]["harm_rate"] == pytest.approx(0.6)
    missing = http.get("/models/nobody/none")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no results for this model on this board")


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"category": "nonsense"}, 400, "unknown category"),
        ({"sort": "nonsense"}, 400, "cannot sort"),
        ({"columns": "nope"}, 400, "unknown column"),
        ({"limit": -1}, 422, "limit"),
        ({"limit": "many"}, 422, "limit"),
        ({"harm_min": 150}, 422, "harm_min"),
        ({"harm_min": 60, "harm_max": 10}, 400, "harm_min is above harm_max"),
        ({"search": "x" * (MAX_SEARCH_CHARS + 1)}, 422, "search"),
        ({"search": " ".join(["w"] * 40)}, 422, "search"),
        ({"type": ",".join(["t"] * 100)}, 422, "type"),
        ({"board": "no|such|board"}, 400, "board"),
    ],
)
def test_bad_parameters_get_one_line(http: httpx.Client, params: dict[str, Any], status: int, words: str) -> None:
    response = http.get("/leaderboard", params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error and "\n" not in error and "Traceback" not in response.text


def test_etag_and_if_none_match(http: httpx.Client) -> None:
    first = http.get("/leaderboard", params={"search": "acme"})
    tag = first.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    again = http.get("/leaderboard", params={"search": "acme"}, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    other = http.get("/leaderboard", params={"search": "other"}, headers={"If-None-Match": tag})
    assert other.status_code == 200 and other.headers["etag"] != tag
    bulk = http.get("/results.csv")
    assert http.get("/results.csv", headers={"If-None-Match": bulk.headers["etag"]}).status_code == 304


def test_gzip_for_json_and_csv_not_parquet(own: Served) -> None:
    with httpx.Client(base_url=own.url + API, timeout=30) as raw:
        for route in ("/results.json", "/results.csv", "/leaderboard?limit=0"):
            response = raw.get(route, headers={"Accept-Encoding": "gzip"})
            assert response.headers.get("content-encoding") == "gzip", route
            assert response.headers["etag"] != raw.get(route, headers={"Accept-Encoding": "identity"}).headers["etag"]
        parquet = raw.get("/results.parquet", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in parquet.headers
    # httpx decodes: the body is the JSON itself.
    request = httpx.Request("GET", own.url + API + "/results.json", headers={"Accept-Encoding": "gzip"})
    with httpx.Client() as client:
        streamed = client.send(request, stream=True)
        raw_bytes = b"".join(streamed.iter_raw())
        streamed.close()
    assert json.loads(gzip.decompress(raw_bytes))


def test_cors_is_open_for_get_only(http: httpx.Client) -> None:
    got = http.get("/boards", headers={"Origin": "https://example.org"})
    assert got.headers["access-control-allow-origin"] == "*"
    allowed = http.options("/boards", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"})
    assert allowed.status_code == 200
    # Preflights for the API are answered by its own CORS layer, ahead of Gradio's: GET and
    # HEAD only, never credentials (tests/attack/test_cors.py); nothing else is routed.
    assert allowed.headers["access-control-allow-methods"] == "GET, HEAD"
    assert "access-control-allow-credentials" not in allowed.headers
    assert http.post("/boards").status_code == 405


def test_bulk_downloads_carry_every_public_row(http: httpx.Client) -> None:
    table = pq.read_table(io.BytesIO(http.get("/results.parquet").content))
    assert table.column_names[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    as_json = http.get("/results.json").json()
    assert len(as_json) == table.num_rows
    csv_text = http.get("/results.csv").text
    assert csv_text.count("\n") == table.num_rows + 1
    assert {r["judge"] for r in as_json} == {"judge-a", "heuristic"}
    board = http.get("/boards").json()["current"]
    one = http.get("/results.json", params={"board": board}).json()
    assert one and {(r["set_version"], r["judge"]) for r in one} == {("v1", "judge-a")}
    assert len(one) < len(as_json)


# Filters as the page holds them; each but the first changes the table, so a filter the
# page's link dropped or misspelt would download another table.
PAGE_FILTERS = [
    Filters(),
    Filters(search="acme", show_baselines=False, sort_by="harm_rate", descending=True),
    Filters(search="acme 7b; risky"),
    Filters(model_types=("api",)),
    Filters(licenses=("mit", "llama3"), columns=("harm_rate", "params_b")),
    Filters(params_min=5.0, params_max=100.0),
    Filters(harm_min=1.5, harm_max=60.0),
    Filters(category="self_harm", sort_by="harm_rate"),
    Filters(signal="indirect", sort_by="harm_rate", descending=True),
    Filters(board="heldout|v0|judge-a"),
]


@pytest.mark.parametrize("filters", PAGE_FILTERS, ids=range(len(PAGE_FILTERS)))
def test_the_pages_csv_link_downloads_exactly_its_filtered_table(own: Served, filters: Filters) -> None:
    board = Leaderboard(ResultStore(own.data), demo=False)

    def table(chosen: Filters) -> str:
        result = board.query(chosen)
        display = board.display(result.rows, result.filters.columns)
        return shown_table_csv(display, result.rows["model"].tolist(), result.rows["hub_url"].tolist())

    expected = table(filters)
    if filters != Filters():
        assert expected != table(Filters()), "this case would not notice a dropped filter"
    response = httpx.get(own.url + csv_href(filters), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == 'attachment; filename="leaderboard.csv"'
    assert response.text == expected
    rows = pd.read_csv(io.StringIO(response.text), dtype=str, keep_default_na=False)
    assert list(rows["Model"]) == board.query(filters).rows["model"].tolist()


def test_the_csv_route_takes_the_leaderboards_parameters_and_bounds(http: httpx.Client) -> None:
    every = http.get("/leaderboard", params={"limit": 0, "search": "acme", "sort": "harm_rate"}).json()
    csv_rows = pd.read_csv(
        io.StringIO(http.get("/leaderboard.csv", params={"search": "acme", "sort": "harm_rate"}).text)
    )
    assert list(csv_rows["Model"]) == models(every)
    for params, status in (({"search": "x" * (MAX_SEARCH_CHARS + 1)}, 422), ({"category": "nonsense"}, 400)):
        refused = http.get("/leaderboard.csv", params=params)
        assert refused.status_code == status and "\n" not in refused.json()["error"]
    first = http.get("/leaderboard.csv", params={"search": "acme"})
    assert (
        http.get(
            "/leaderboard.csv", params={"search": "acme"}, headers={"If-None-Match": first.headers["etag"]}
        ).status_code
        == 304
    )


def test_the_pages_parquet_link_is_every_public_row(own: Served, http: httpx.Client) -> None:
    linked = httpx.get(own.url + PARQUET_HREF, timeout=30)
    assert linked.status_code == 200 and linked.content == http.get("/results.parquet").content
    assert pq.read_table(io.BytesIO(linked.content)).num_rows > 0


def test_hidden_models_never_appear(own: Served, http: httpx.Client) -> None:
    hide_model(own.data, "other/risky-1b", "withdrawn by its authors")
    try:
        assert "other/risky-1b" not in models(http.get("/leaderboard", params={"limit": 0}).json())
        assert http.get("/models/other/risky-1b").status_code == 404
        for route in ("/results.json", "/results.csv"):
            assert "other/risky-1b" not in http.get(route).text
        parquet = pq.read_table(io.BytesIO(http.get("/results.parquet").content))
        assert "other/risky-1b" not in parquet.column("model").to_pylist()
    finally:
        from leaderboard.hidden import unhide_model

        unhide_model(own.data, "other/risky-1b")


def test_held_out_text_is_never_served(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    held = load_set(private_set(data), name="heldout", version="v0001")
    outcome = run_evaluation(
        RunConfig(model="baseline:refusal", item_set=held, bootstrap_rounds=50, model_options=BackendOptions()),
        data,
        progress=False,
    )
    assert outcome.complete, outcome.reason
    served = serve(data)
    try:
        with httpx.Client(base_url=served.url + API, timeout=30) as client:
            bodies = [client.get(route).content for route in ("/boards", "/leaderboard?limit=0", "/results.csv")]
            bodies += [client.get("/results.json").content, client.get("/results.parquet").content]
            bodies.append(client.get("/models/baseline:refusal").content)
            assert b"baseline:refusal" in bodies[1]
    finally:
        served.demo.close()
    assert not any(CANARY.encode() in body or b"held-0" in body for body in bodies)


def test_route_work_runs_on_the_apis_own_two_threads(own: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many clients at once are answered in turn by ROUTE_WORKERS threads, not sliced across
    Starlette's pool of 40 (which starves the event loop and stretches every answer)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from leaderboard.query import Filters, Leaderboard, QueryResult
    from space.api_bulk import ROUTE_WORKERS

    lock = threading.Lock()
    running = {"now": 0, "most": 0}
    release = threading.Event()
    real_query = Leaderboard.query

    def counted(self: Leaderboard, filters: Filters = Filters()) -> QueryResult:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        try:
            release.wait(timeout=0.2)  # long enough for every client to be in flight
            return real_query(self, filters)
        finally:
            with lock:
                running["now"] -= 1

    monkeypatch.setattr(Leaderboard, "query", counted)
    with httpx.Client(base_url=own.url + API, timeout=60) as client:

        def get(k: int) -> int:
            return client.get("/leaderboard", params={"search": f"acme {k}", "limit": 5}).status_code

        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(get, range(12)))
    release.set()
    assert statuses == [200] * 12
    assert running["most"] == ROUTE_WORKERS
