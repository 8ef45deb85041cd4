"""The Items tab in a real browser (issue 23.5): pick a model and a second one, read every
item's two replies with their levels and checklist evidence side by side."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from evaluator.items import ItemSet
from evaluator.storage import DataDir
from tests.evaluator.pipeline.test_pipeline import small_set
from tests.space.conftest import serving
from tests.space.test_browser import Tab
from tests.space.test_drilldown import CURT, run, supportive
from tests.support.browser import CHROMIUM, loopback_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]


@pytest.fixture
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, ItemSet]:
    data, items = DataDir(tmp_path_factory.mktemp("items")), small_set(1)
    run(data, items, "scripted:curt", CURT)
    run(data, items, "scripted:kind", supportive(None))
    return data, items


@pytest.fixture
def items_page(browser: Any, two_runs: tuple[DataDir, ItemSet]) -> Iterator[Tab]:
    with serving(two_runs[0]) as app:
        context = loopback_context(browser)
        try:
            page = context.new_page()
            page.goto(app.url)
            yield Tab(page)
        finally:
            context.close()


def test_the_items_tab_shows_two_models_side_by_side(items_page: Tab, two_runs: tuple[DataDir, ItemSet]) -> None:
    page, items = items_page.page, two_runs[1]
    page.get_by_role("tab", name="Items").click()
    table = page.locator("#items-table")

    def rows() -> list[list[str]]:
        found = table.locator("[role=row]").all()[1:]
        return [[c.strip() for c in r.locator("[role=gridcell]").all_inner_texts()] for r in found]

    items_page.wait_for(lambda: len(rows()) == len(items.items), "the first model's items")
    assert f"{len(items.items)} items" in page.locator("#items-note").inner_text()
    items_page.choose("items-second", "scripted:kind")
    items_page.wait_for(lambda: len(rows()[0]) == 10, "the second model's columns")
    for cells in rows():
        assert cells[5] == CURT and cells[8] == supportive(None)  # first (curt), second (kind)
        assert cells[4].isdigit() and cells[7].isdigit()
        assert "yes — “" in cells[9]  # the kind reply's checklist quotes it
    assert items_page.dialogs == []
    items_page.shot("items-side-by-side")
