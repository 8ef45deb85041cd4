"""The model page's figures read back from the real page at desktop and phone widths.

Issue 23.2: side by side, the figure tables clipped their values ("0 of", "Me") at 1400 px and
wrapped the example replies one letter a line at 390 px. Each value cell is read back, compared
with the REST figures, and checked whole (no text cut by its cell) and on screen.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest

from leaderboard.plots import category_name
from tests.space.test_browser import Tab, page_on
from tests.space.test_browser_demo import EVERYTHING, fresh  # noqa: F401 (the fixture: the demo deployment)
from tests.support.browser import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]

MODEL = "demo:dismissive"  # example replies, and answers that named no label ("n of m")
# Table on the page -> (REST key, the columns holding values).
TABLES = {
    "model-detection": ("detection", ["Figure", "Value", "95% CI"]),
    "model-refusal": ("refusal", ["Figure", "Value", "95% CI"]),
    "model-support": ("support", ["Attribute", "Group", "Mean (1-5)"]),
}

# For each grid cell: its text, whether any element inside cuts its text, and its box.
_CELLS = """(table) => Array.from(table.querySelectorAll('[role=row]')).slice(1).map(row =>
  Array.from(row.querySelectorAll('[role=gridcell]')).map(cell => {
    const cut = [cell, ...cell.querySelectorAll('*')].some(
      el => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible');
    const box = cell.getBoundingClientRect();
    return {text: cell.innerText.trim(), cut, left: box.left, right: box.right, width: box.width};
  }))"""


def rest_figures(url: str) -> dict[str, Any]:
    url = f"{url.rstrip('/')}/api/v1/models/{urllib.parse.quote(MODEL)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return dict(json.loads(response.read()))


def read_table(tab: Tab, elem_id: str) -> list[list[dict[str, Any]]]:
    return list(tab.page.locator(f"#{elem_id}").evaluate(_CELLS))


@pytest.mark.parametrize(("width", "height"), [(1400, 900), (390, 844)])
def test_every_model_page_value_is_whole_and_matches_rest(browser: Any, fresh: Any, width: int, height: int) -> None:  # noqa: F811
    rest = rest_figures(fresh[0])
    with page_on(browser, fresh[0], EVERYTHING, "Demo board") as tab:
        tab.page.set_viewport_size({"width": width, "height": height})
        tab.open_model(MODEL)
        first = TABLES["model-detection"]
        tab.wait_for(
            lambda: len(read_table(tab, "model-detection")) == len(rest[first[0]]), "the detection table to fill"
        )
        for elem_id, (key, columns) in TABLES.items():
            cells = read_table(tab, elem_id)
            expected = [[str(record[c]) for c in columns] for record in rest[key]]
            assert [[c["text"] for c in row] for row in cells] == expected, elem_id
            for row in cells:
                for cell in row:
                    assert not cell["cut"], f"{elem_id}: {cell['text']!r} is cut at {width} px"
                    assert cell["left"] >= 0 and cell["right"] <= width + 1, (
                        f"{elem_id}: {cell['text']!r} off screen at {width} px ({cell['left']:.0f}-{cell['right']:.0f})"
                    )
        # The per-category table: every figure on screen at desktop width (a phone scrolls it).
        if width >= 1400:
            shown = read_table(tab, "model-categories")
            # The page names the category as the plots do ("Overall"); REST keeps the key.
            rest_row = [str(v) for v in rest["per_category"][0].values()]
            assert [c["text"] for c in shown[0]] == [category_name(rest_row[0]), *rest_row[1:]]
            for row in shown:
                for cell in row:
                    assert not cell["cut"] and cell["right"] <= width + 1, f"per category: {cell}"
        # The example replies: several words to a line, not one letter (scrolling sideways is
        # fine for this wide table; a column narrower than a word is not).
        examples = read_table(tab, "model-examples")
        assert len(examples) > 1 and all(cell["width"] >= 40 for row in examples for cell in row), examples[:1]
        # Issue 21: the demo model's conversation figures, as the Conversations tab gives them.
        talk = tab.page.locator("#model-conversations")
        tab.wait_for(lambda: "post-refusal stay rate" in talk.inner_text(), "the conversation section")
        assert "turns from visible risk" in talk.inner_text()
        chart = tab.page.locator("#model-conversation-chart")
        tab.wait_for(lambda: "C1" in chart.inner_text() and "C5" in chart.inner_text(), "the C1-C5 chart")
        box = chart.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
        tab.shot(f"model-page-{width}")
