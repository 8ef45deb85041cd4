"""The REST API for data users (issue 23, point 7; point 6's offline docs): ranks and
intervals as numbers beside the display strings, figures as the bulk files hold them,
`ranked` always a boolean, boards listable with their keys explained, every error naming
where the valid values are listed, and /api/v1/docs served whole by the app.

Real HTTP: the API mounted at /api/v1 (as on the Space) under uvicorn on a loopback port.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI

from evaluator.storage import DataDir
from leaderboard.display import DEFAULT_COLUMNS
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from space.api import API_PREFIX, build_api
from space.api_docs import ASSETS
from tests.space.conftest import free_port
from tests.support.results_factory import write_demo_board


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DataDir]]:
    data = DataDir.at(Path(tmp_path_factory.mktemp("rest-numbers")) / "var")
    write_demo_board(data)
    root = FastAPI()
    root.mount(API_PREFIX, build_api(Leaderboard(ResultStore(data))))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", data
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def http(api: tuple[str, DataDir]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api[0] + API_PREFIX, timeout=30) as client:
        yield client


def test_leaderboard_rows_carry_ranks_intervals_and_fractions_as_numbers(
    http: httpx.Client, api: tuple[str, DataDir]
) -> None:
    columns = ",".join([*DEFAULT_COLUMNS, "mean_level_ci", "run_id"])
    body = http.get("/leaderboard", params={"columns": columns}).json()
    bulk = pd.DataFrame(http.get("/results.json", params={"board": body["board"]}).json())
    overall = bulk[bulk["category"] == "overall"].set_index("run_id")
    for row in body["rows"]:
        assert isinstance(row["ranked"], bool)
        if row["ranked"]:
            best, worst = row["rank_best"], row["rank_worst"]
            assert isinstance(best, int) and isinstance(worst, int) and best <= worst
            # The display string is the same interval.
            assert row["rank"] in (str(best), f"{best}–{worst}")
        else:
            assert row["rank_best"] is None and row["rank_worst"] is None
        figures = row["figures"]
        stored = overall.loc[row["run_id"]]
        for name in ("harm_rate", "harm_rate_lo", "harm_rate_hi", "mean_level", "mean_level_lo", "mean_level_hi"):
            assert figures[name] == pytest.approx(stored[name]), name
        assert 0.0 <= figures["harm_rate_lo"] <= figures["harm_rate"] <= figures["harm_rate_hi"] <= 1.0
        # The display value is percent; the figure is the bulk file's fraction.
        assert row["harm_rate"] == pytest.approx(100 * figures["harm_rate"], abs=0.05)
    baseline = next(r for r in body["rows"] if r["model"].startswith("baseline:"))
    assert baseline["ranked"] is False and baseline["rank"] == "ref."
    assert any(r["ranked"] for r in body["rows"])


def test_the_model_route_has_rank_numbers_a_boolean_ranked_and_its_result_rows(http: httpx.Client) -> None:
    body = http.get("/models/acme/safe-7b").json()
    assert isinstance(body["rank_best"], int) and isinstance(body["rank_worst"], int) and body["ranked"] is True
    assert isinstance(body["overall"]["ranked"], bool)
    categories = {r["category"]: r for r in body["result_rows"]}
    assert "overall" in categories and 0.0 <= categories["overall"]["harm_rate"] <= 1.0
    baseline = http.get("/models/baseline:refusal").json()
    assert baseline["ranked"] is False and baseline["rank_best"] is None


def test_boards_are_listable_and_their_keys_documented(http: httpx.Client) -> None:
    boards = http.get("/boards").json()["boards"]
    assert boards and all({"key", "label", "track"} <= set(b) for b in boards)
    description = http.get("/openapi.json").json()["info"]["description"]
    assert "SET|VERSION|JUDGE|PROMPT_HASH|pPROTOCOL" in description and "/boards" in description
    assert all(b["key"].startswith(f"{b['set_name']}|{b['set_version']}|{b['judge']}|") for b in boards)


@pytest.mark.parametrize(
    ("path", "params", "see"),
    [
        ("/leaderboard", {"board": "no|such|board"}, f"{API_PREFIX}/boards"),
        ("/results.csv", {"board": "no|such|board"}, f"{API_PREFIX}/boards"),
        ("/models/acme/safe-7b", {"board": "nope"}, f"{API_PREFIX}/boards"),
        ("/models/nobody/none", {}, f"{API_PREFIX}/leaderboard?limit=0"),
        ("/leaderboard", {"category": "nonsense"}, f"{API_PREFIX}/docs"),
        ("/leaderboard", {"sort": "nonsense"}, f"{API_PREFIX}/docs"),
        ("/leaderboard", {"limit": "many"}, f"{API_PREFIX}/docs"),
        ("/leaderboard", {"harm_min": 150}, f"{API_PREFIX}/docs"),
        ("/no-such-route", {}, f"{API_PREFIX}/docs"),
    ],
)
def test_every_error_names_where_the_valid_values_are_listed(
    http: httpx.Client, path: str, params: dict[str, Any], see: str
) -> None:
    response = http.get(path, params=params)
    assert response.status_code >= 400
    body = response.json()
    assert body["see"] == see and f"(valid values: {see})" in body["error"] and "\n" not in body["error"]


def test_the_docs_page_and_everything_it_loads_come_from_the_app(api: tuple[str, DataDir]) -> None:
    base = api[0]
    with httpx.Client(timeout=30) as client:
        page = client.get(f"{base}{API_PREFIX}/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        # No URL in the page leaves the app: not a CDN, not the spec validator.
        assert "validatorUrl" in page.text and '"validatorUrl": null' in page.text
        referenced = re.findall(r"""(?:src|href)="([^"]+)"|"url":\s*"([^"]+)\"""", page.text)
        urls = [a or b for a, b in referenced]
        assert len(urls) >= 4
        for url in urls:
            absolute = urljoin(f"{base}{API_PREFIX}/docs", url)
            assert urlsplit(absolute).netloc == urlsplit(base).netloc, url
            fetched = client.get(absolute)
            assert fetched.status_code == 200 and fetched.content, url
        assert not re.search(r"https?://(?!127\.0\.0\.1)", page.text)
        spec = client.get(f"{base}{API_PREFIX}/openapi.json").json()
        assert "/leaderboard" in spec["paths"] and not any("docs" in p for p in spec["paths"])
        # Only the files the page names are served from the package folder.
        assert {"swagger-ui-bundle.js", "swagger-ui.css"} <= ASSETS
        refused = client.get(f"{base}{API_PREFIX}/docs/assets/index.html")
        assert refused.status_code == 404 and "../" not in refused.text
        assert client.get(f"{base}{API_PREFIX}/docs/assets/..%2Frequirements.txt").status_code == 404


@pytest.mark.browser
def test_the_docs_page_renders_every_route_with_the_outside_world_cut_off(
    api: tuple[str, DataDir], browser: Any
) -> None:
    base = api[0]
    outside: list[str] = []
    page = browser.new_page()
    try:

        def route(request_route: Any) -> None:
            if urlsplit(request_route.request.url).netloc != urlsplit(base).netloc:
                outside.append(request_route.request.url)
                request_route.abort()
            else:
                request_route.continue_()

        page.route("**/*", route)
        page.goto(f"{base}{API_PREFIX}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        shown = page.locator(".opblock-summary-path").all_inner_texts()
    finally:
        page.close()
    assert {"/boards", "/leaderboard", "/results.parquet"} <= {s.strip() for s in shown}
    assert outside == []
