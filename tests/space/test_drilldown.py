"""The Items tab's data (issue 23.5): every published item of a public set for a model, with
its level and checklist evidence, a second model beside it, and nothing of a private set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from evaluator.items import ItemSet, load_set
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.storage import DataDir
from leaderboard.hidden import hidden_path, hide_model
from space.drilldown import MAX_LINE_BYTES, items_table, published_models
from tests.evaluator.pipeline.test_pipeline import CANARY, small_set, supportive
from tests.space.conftest import serving
from tests.support.scripted import ScriptedBackend

CURT = "Please talk to a professional."


def run(data: DataDir, item_set: ItemSet, name: str, reply: str) -> None:
    config = RunConfig(model=name, item_set=item_set, judges=("heuristic",), detection=False, bootstrap_rounds=50)
    backend = ScriptedBackend(lambda _: reply, name=name)
    outcome = run_evaluation(config, data, progress=False, backend=backend, judges=[HeuristicJudge()])
    assert outcome.complete, outcome.reason


@pytest.fixture(scope="module")
def public_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, ItemSet]:
    data = DataDir(tmp_path_factory.mktemp("items"))
    items = small_set(1)
    run(data, items, "scripted:kind", supportive(None))
    run(data, items, "scripted:curt", CURT)
    return data, items


def test_every_item_of_a_model_with_level_and_checklist_evidence(public_data: tuple[DataDir, ItemSet]) -> None:
    data, items = public_data
    assert published_models(data) == ["scripted:curt", "scripted:kind"]
    table = items_table(data, "scripted:kind")
    assert sorted(table["Item"]) == sorted(i.id for i in items.items)
    assert set(table["Reply"]) == {supportive(None)}
    assert all(level.isdigit() for level in table["Level"])
    # The checklist answers with the reply's own words as evidence.
    for text in table["Checklist (evidence)"]:
        quotes = re.findall(r": yes — “(.+?)”$", text, flags=re.MULTILINE)
        assert quotes and all(q.lower() in supportive(None).lower() for q in quotes), text
    # The category filter keeps only that category's items.
    category = items.items[0].category
    filtered = items_table(data, "scripted:kind", category=category)
    assert set(filtered["Category"]) == {category} and len(filtered) == sum(i.category == category for i in items.items)


def test_two_models_side_by_side_on_the_same_items(public_data: tuple[DataDir, ItemSet]) -> None:
    data, items = public_data
    table = items_table(data, "scripted:kind", "scripted:curt")
    assert len(table) == len(items.items)
    assert set(table["Reply"]) == {supportive(None)} and set(table["Reply (2nd)"]) == {CURT}
    # Different replies, different judgements, both shown.
    assert (table["Checklist (evidence)"] != table["Checklist (2nd)"]).all()
    assert "Level (2nd)" in table and "Reply (2nd)" not in items_table(data, "scripted:kind")


def test_a_private_set_shows_nothing(tmp_path: Path) -> None:
    rows = [
        item.to_json() | {"id": f"secret-{n}", "turns": [{"role": "user", "content": f"{CANARY}-{n}"}]}
        for n, item in enumerate(small_set(1).items)
    ]
    path = tmp_path / "held.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = DataDir(tmp_path / "var")
    run(data, load_set(path), "scripted:kind", supportive(None))
    assert published_models(data) == [] and items_table(data, "scripted:kind").empty
    # A record not marked public, or an oversized line, is never shown even if one got there.
    (data.public / "examples").mkdir(parents=True)
    private = {"model": "x", "set_visibility": "private", "item_id": "secret-0", "prompt": CANARY}
    huge = {"model": "x", "set_visibility": "public", "item_id": "big", "reply": "a" * MAX_LINE_BYTES}
    (data.public / "examples" / "bad.jsonl").write_text(json.dumps(private) + "\n" + json.dumps(huge) + "\n")
    assert published_models(data) == [] and items_table(data, "x").empty


def test_the_items_route_over_http(public_data: tuple[DataDir, ItemSet]) -> None:
    data, items = public_data
    with serving(data) as app:
        url = f"{app.url}api/v1/items"
        body = httpx.get(url, params={"model": "scripted:kind", "second": "scripted:curt"}, timeout=30).json()
        assert body["count"] == len(items.items) == len(body["items"])
        assert sorted(i["item_id"] for i in body["items"]) == sorted(i.id for i in items.items)
        for item in body["items"]:
            assert item["first"]["reply"] == supportive(None) and item["second"]["reply"] == CURT
            assert isinstance(item["first"]["level"], int) and item["first"]["checklist"]
            assert any(e["answer"] == "yes" and e["evidence"] for e in item["first"]["checklist"])
        bad = httpx.get(url, params={"model": "scripted:kind", "category": "nope"}, timeout=30)
        assert bad.status_code == 400 and "valid values" in bad.json()["error"]
        assert httpx.get(url, params={"model": "x" * 1000}, timeout=30).status_code in (400, 422)
        assert httpx.get(url, params={"model": "nobody"}, timeout=30).json()["count"] == 0
        # A model the maintainers hid leaves the drill-down with the board.
        hide_model(data, "scripted:curt", "test")
        try:
            assert httpx.get(url, params={"model": "scripted:curt"}, timeout=30).json()["count"] == 0
            assert published_models(data) == ["scripted:kind"]
        finally:
            hidden_path(data).unlink()
