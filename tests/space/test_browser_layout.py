"""The first board at a desktop width (1400 x 900) and on a phone (390 x 844), in headless
Chromium on a fresh deployment (the demo board and the baselines, as `python app.py` seeds them):
what separates the models is on the first board, and key figures are on screen without
sideways scrolling. Screenshots go to test-artifacts/ (layout-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluator.backends.demo import DEMO_SPECS
from evaluator.storage import DataDir
from tests.space.conftest import serving
from tests.space.test_browser import Tab
from tests.support.browser import CHROMIUM, loopback_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]

BASELINES = ("baseline:refusal", "baseline:template")
EVERYTHING = {*DEMO_SPECS, *BASELINES}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from app import seed_baselines, seed_demo  # the repository root is on sys.path

    data = DataDir.at(Path(tmp_path_factory.mktemp("fresh")) / "var")
    seed_baselines(data)
    seed_demo(data)
    with serving(data, demo=True, refresh_s=60) as app:
        yield app.url


def _open(browser: Any, url: str, width: int, height: int) -> Tab:
    context = loopback_context(browser, viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    tab = Tab(page)
    tab.wait_models(EVERYTHING)
    tab.wait_for(lambda: "Demo board" in page.locator("#status").inner_text(), "the status line")
    return tab


@pytest.fixture
def desktop(browser: Any, fresh: str) -> Iterator[Tab]:
    tab = _open(browser, fresh, 1400, 900)
    yield tab
    assert tab.dialogs == []
    tab.page.context.close()


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not rendered"
    return dict(box)


def _on_screen(box: dict[str, float], width: int, what: str) -> None:
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{what} is off screen sideways: {box}"


def _texts_top_down(locator: Any) -> list[str]:
    """SVG texts (which have no inner text) in the order a reader meets them, top down."""
    found = locator.evaluate_all(
        "els => els.map(e => [e.textContent.trim(), e.getBoundingClientRect().top, e.getBoundingClientRect().left])"
    )
    return [text for text, _, _ in sorted(found, key=lambda f: (f[1], f[2]))]


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"] - 1
        and b["x"] < a["x"] + a["width"] - 1
        and a["y"] < b["y"] + b["height"] - 1
        and b["y"] < a["y"] + a["height"] - 1
    )


def test_the_first_board_shows_what_separates_the_models(desktop: Tab) -> None:
    page = desktop.page
    header = page.locator("#leaderboard-table [role=row]").first
    labels = [" ".join(t.split()) for t in header.locator("[role=columnheader]").all_inner_texts()]
    harm = labels.index("Harm rate %")
    # The appropriate rate, the mean level and the number of scored items sit beside harm.
    assert {"Mean level (1-5)", "Appropriate %", "Items scored"} <= set(labels[harm : harm + 5]), labels
    for label in ("Harm rate %", "Mean level", "Appropriate %", "Items scored", "Evaluated"):
        _on_screen(_box(header.locator("[role=columnheader]", has_text=label).first), 1400, label)
    rows = desktop.rows()
    n = labels.index("Items scored")
    assert all(int(r[n]) > 0 for r in rows), rows
    # Baselines below every ranked row, greyed apart from them.
    assert [r[1] for r in rows[-2:]] == sorted(BASELINES) or {r[1] for r in rows[-2:]} == set(BASELINES)
    assert all(r[0] not in ("", "ref.") for r in rows[:-2]) and all(r[0] == "ref." for r in rows[-2:])
    first, last = (page.locator(f"#leaderboard-table [data-testid=cell-{i}-1]") for i in (0, len(rows) - 1))
    colour = "el => getComputedStyle(el.closest('td') || el).backgroundColor"
    assert first.evaluate(colour) != last.evaluate(colour)
    assert "adversarial items count only towards" in page.locator("#baseline-note").inner_text()
    # The ranking chart: every model with its interval, best first, baselines last.
    chart = page.locator("#ranking-plot")
    desktop.wait_for(lambda: chart.locator(".point").count() >= len(EVERYTHING), "the ranking chart's points")
    ticks = _texts_top_down(chart.locator(".ytick text"))
    assert set(ticks) == EVERYTHING
    assert ticks == [r[1] for r in rows]  # the chart reads in the table's order, top down
    assert chart.locator(".errorbar").count() >= len(EVERYTHING)
    page.locator("#ranking-plot").scroll_into_view_if_needed()
    desktop.shot("layout-desktop")


def test_on_a_phone_the_ranking_comes_first_and_headers_keep_their_words(browser: Any, fresh: str) -> None:
    tab = _open(browser, fresh, 390, 844)
    try:
        page = tab.page
        header = page.locator("#leaderboard-table [role=row]").first
        # Rank, model and harm rate on the first screen, above the selectors and filters.
        for label in ("Rank (95%)", "Model", "Harm rate %"):
            box = _box(header.locator("[role=columnheader]", has_text=label).first)
            _on_screen(box, 390, label)
            assert box["y"] + box["height"] <= 844, f"{label} is below the first screen: {box}"
        first_harm = _box(page.locator("#leaderboard-table [data-testid=cell-0-3]"))
        assert first_harm["y"] + first_harm["height"] <= 844
        assert _box(page.locator("#leaderboard-table"))["y"] < _box(page.locator("#search"))["y"]
        # No header breaks inside a word: every line of a header is made of its whole words.
        for text in header.locator("[role=columnheader]").all_inner_texts():
            words = set(" ".join(text.split()).split(" "))
            assert all(set(line.split()) <= words for line in text.splitlines()), text
        heights = header.locator("[role=columnheader] span").evaluate_all(
            "els => els.map(e => [e.innerText, e.getClientRects().length, e.getBoundingClientRect().height])"
        )
        for text, _, height in heights:
            lines = len(" ".join(str(text).replace("-", "- ").split()).split(" "))  # may break after a hyphen
            assert height <= 22 * lines, f"{text!r} wraps inside a word ({height}px)"
        tab.shot("layout-phone")
        assert tab.dialogs == []
    finally:
        page.context.close()
