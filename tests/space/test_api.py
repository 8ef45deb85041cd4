"""`/leaderboard` through gradio_client, against the app served in-process."""

from __future__ import annotations

import pytest
from gradio_client import Client

from tests.space.conftest import Served
from tests.support.results_factory import HOSTILE_NAME

FILTERS = {
    "board_key",
    "category",
    "signal",
    "search",
    "model_types",
    "licenses",
    "params_min",
    "params_max",
    "harm_min",
    "harm_max",
    "show_baselines",
    "columns",
    "sort_by",
    "descending",
    "limit",
}


@pytest.fixture(scope="module")
def client(served: Served) -> Client:
    return Client(served.url, verbose=False, download_files=False)


def names(table: dict[str, object]) -> list[str]:
    headers = table["headers"]
    assert isinstance(headers, list)
    column = headers.index("Model")
    return [str(row[column]) for row in table["data"]]  # type: ignore[attr-defined]


def test_only_the_leaderboard_endpoint_is_public_and_every_filter_has_a_default(client: Client) -> None:
    api = client.view_api(return_format="dict", print_info=False)
    assert isinstance(api, dict)
    assert list(api["named_endpoints"]) == ["/leaderboard"]
    assert api["unnamed_endpoints"] == {}
    params = api["named_endpoints"]["/leaderboard"]["parameters"]
    assert {p["parameter_name"] for p in params} == FILTERS
    assert all(p["parameter_has_default"] for p in params), [p["parameter_name"] for p in params]


def test_defaults_give_the_current_board(client: Client) -> None:
    table = client.predict(api_name="/leaderboard")
    assert table["headers"][:2] == ["Rank (95%)", "Model"]
    got = names(table)
    assert len(got) == 6
    assert "acme/safe-7b" in got  # plain names, no Markdown
    assert not any("only/on-old" in n or "only/heuristic" in n for n in got)  # never mixed


def test_filters_are_parameters(client: Client) -> None:
    table = client.predict(
        search="acme", show_baselines=False, sort_by="harm_rate", descending=True, api_name="/leaderboard"
    )
    assert names(table) == ["acme/mid-70b", "acme/safe-7b"]
    api_only = client.predict(model_types=["api"], show_baselines=False, api_name="/leaderboard")
    assert names(api_only) == ["api-chat"]
    sized = client.predict(params_min=5, params_max=100, columns=["params_b"], api_name="/leaderboard")
    assert sized["headers"] == ["Rank (95%)", "Model", "Params (B)"]
    assert sorted(row[2] for row in sized["data"]) == [7.0, 70.0]
    category = client.predict(category="self_harm", search="mid-70b", columns=["harm_rate"], api_name="/leaderboard")
    assert category["data"][0][2] == 50.0
    older = client.predict(board_key="heldout|v0|judge-a", limit=1, api_name="/leaderboard")
    assert len(older["data"]) == 1


def test_hostile_names_come_back_as_plain_text(client: Client) -> None:
    # The page shows the cell as text (never Markdown or HTML), so the name comes back as it is.
    table = client.predict(search="script", api_name="/leaderboard")
    (cell,) = names(table)
    assert cell == HOSTILE_NAME


def test_bad_parameters_are_errors_not_crashes(client: Client) -> None:
    with pytest.raises(Exception, match="harm_min is above harm_max"):
        client.predict(harm_min=60, harm_max=10, api_name="/leaderboard")
    with pytest.raises(Exception, match="no results for board"):
        client.predict(board_key="nope", api_name="/leaderboard")
    with pytest.raises(Exception, match="unknown category 'nope'; use one of overall"):
        client.predict(category="nope", api_name="/leaderboard")
