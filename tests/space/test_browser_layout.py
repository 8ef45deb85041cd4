"""The first board at a desktop width (1400 x 900) and on a phone (390 x 844), in headless
Chromium on a fresh deployment (the demo board and the baselines, as `python app.py` seeds them)
and on a crowded board of long real-world model names: what separates the models is on the first
board, key figures are inside the table's own visible width (not under its scroll bar, not
sideways), and model names wrap between words. Screenshots go to test-artifacts/ (layout-*.png).

Chromium runs here with visible scroll bars (Playwright hides them by default), as people see
the page: a table that scrolls down has a vertical bar that takes width from its columns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluator.backends.demo import DEMO_SPECS
from evaluator.storage import DataDir
from tests.space.conftest import serving
from tests.space.test_browser import Tab
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, loopback_context
from tests.support.results_factory import RunSpec, synthetic_specs, write_runs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]

BASELINES = ("baseline:refusal", "baseline:template")
EVERYTHING = {*DEMO_SPECS, *BASELINES}
# Long names as the Hub spells them, best first on the crowded board.
LONG_NAMES = (
    "meta-llama/Llama-3.1-70B-Instruct",
    "mistralai/Mistral-Small-24B-Instruct-2501",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "openai:gpt-4o-mini-2024-07-18",
)
# Chromium never breaks a line after "/": "HuggingFaceTB/SmolLM2-" (22 characters) is longer than
# a 390 px phone's model column, so there it breaks where it must; it is still shown whole.
TOO_LONG_FOR_A_PHONE = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
CROWDED = {*LONG_NAMES, "baseline:template", *(s.model for s in synthetic_specs(20, seed=3))}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """This module's Chromium, with the scroll bars people see (Playwright hides them)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, ignore_default_args=["--hide-scrollbars"]
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from app import seed_baselines, seed_demo  # the repository root is on sys.path

    data = DataDir.at(Path(tmp_path_factory.mktemp("fresh")) / "var")
    seed_baselines(data)
    seed_demo(data)
    with serving(data, demo=True, refresh_s=60) as app:
        yield app.url


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """26 models: long Hub names, ranks such as "1–13", and more rows than the table shows."""
    data = DataDir.at(Path(tmp_path_factory.mktemp("crowded")) / "var")
    specs = [RunSpec(name, harm=0.02 * i) for i, name in enumerate(LONG_NAMES)] + synthetic_specs(20, seed=3)
    specs.append(RunSpec("baseline:template", harm=0.0, mean_level=2.0, appropriate=0.0, model_type="baseline"))
    write_runs(data, specs)
    with serving(data, demo=False, refresh_s=60) as app:
        yield app.url


def _open(
    browser: Any, url: str, width: int, height: int, models: set[str] | None = EVERYTHING, status: str = "Demo board"
) -> Tab:
    """A page at width x height once its table holds `models` (None: the rows it renders of a
    long table, which draws only the rows near its view) and its status line says `status`."""
    context = loopback_context(browser, viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    tab = Tab(page)
    if models is not None:
        tab.wait_models(models)
    tab.wait_for(lambda: status in page.locator("#status").inner_text(), "the status line")
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


def _texts_top_down(locator: Any) -> list[str]:
    """SVG texts (which have no inner text) in the order a reader meets them, top down."""
    found = locator.evaluate_all(
        "els => els.map(e => [e.textContent.trim(), e.getBoundingClientRect().top, e.getBoundingClientRect().left])"
    )
    return [text for text, _, _ in sorted(found, key=lambda f: (f[1], f[2]))]


# The table as drawn: the right edge of what its scroll viewport shows (clientWidth leaves out a
# vertical scroll bar), each shown header, and each rendered row's shown cells with the lines
# its text is laid out in (by character: Range client rects), whether any text is cut off, and
# the line height. Rows are found by [role=row] (the first is the header's).
_TABLE = """root => {
  const viewport = root.querySelector('.virtual-table-viewport');
  const left = viewport.getBoundingClientRect().left + viewport.clientLeft;
  const shown = el => getComputedStyle(el).display !== 'none';
  const lines = el => {
    const out = [];
    let top = null;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const r = range.getClientRects()[0];
        if (r && (top === null || r.top > top + r.height / 2)) { out.push(''); top = r.top; }
        if (out.length) out[out.length - 1] += node.data[i];
      }
    }
    return out.map(line => line.trim()).filter(Boolean);
  };
  const box = el => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height};
  };
  const [header, ...rows] = root.querySelectorAll('[role=row]');
  const span = cell => cell.querySelector('span') || cell;
  const wrap = cell => getComputedStyle(cell.firstElementChild);
  return {
    left, right: left + viewport.clientWidth, scrollbar: viewport.offsetWidth - viewport.clientWidth,
    scrolls_sideways: viewport.scrollWidth > viewport.clientWidth,
    page_width: document.documentElement.scrollWidth,
    headers: [...header.querySelectorAll('[role=columnheader]')].filter(shown).map(h => ({label: h.title, ...box(h)})),
    rows: rows.map(row => ({...box(row), cells: [...row.querySelectorAll('[role=gridcell]')].filter(shown).map(c => ({
      text: c.innerText.trim(), lines: lines(span(c)), ...box(c),
      cut: span(c).scrollWidth > span(c).clientWidth + 1 || box(span(c)).right > box(c).right + 0.5,
      line_height: parseFloat(getComputedStyle(span(c)).lineHeight),
      padding: parseFloat(wrap(c).paddingTop) + parseFloat(wrap(c).paddingBottom),
      min_height: parseFloat(wrap(c).minHeight) || 0,
    }))})),
  };
}"""


def _table(tab: Tab) -> dict[str, Any]:
    table: dict[str, Any] = tab.page.locator("#leaderboard-table").evaluate(_TABLE)
    return table


def _inside(table: dict[str, Any], box: dict[str, float], what: str) -> None:
    """Whole inside the table's visible width: not under its vertical scroll bar, not sideways."""
    assert table["left"] - 0.5 <= box["left"] and box["right"] <= table["right"] + 0.5, (
        f"{what} is outside the table's visible width {table['left']:.1f}..{table['right']:.1f}: {box}"
    )


def _between_words(lines: list[str], name: str) -> bool:
    """The name whole, its lines breaking only after a "-" or a "/"."""
    return "".join(lines) == name and all(line.endswith(("-", "/")) for line in lines[:-1])


def _names_read_whole(table: dict[str, Any], *, rows: int, max_lines: int, allowed: Collection[str] = ()) -> None:
    """The first `rows` rows: every figure on one line, nothing cut off, model names wrapped
    between words (`allowed` names may break where they must), and each row as tall as its model
    name's lines and no taller."""
    for row in table["rows"][:rows]:
        rank, model, *figures = row["cells"]
        name = model["text"]
        assert not any(c["cut"] for c in row["cells"]), f"a cell of {name} is cut off: {row}"
        assert all(len(c["lines"]) == 1 for c in (rank, *figures)), f"a figure of {name} wraps: {row}"
        assert name in allowed or _between_words(model["lines"], name), (
            f"{name!r} breaks inside a word: {model['lines']}"
        )
        assert 1 <= len(model["lines"]) <= max_lines, f"{name!r} takes {len(model['lines'])} lines"
        tallest = max(len(model["lines"]) * model["line_height"] + model["padding"], model["min_height"]) + 1
        assert row["height"] <= tallest, f"the row of {name} is {row['height']}px tall for {model['lines']}"


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
    # Every column, header and cells, inside the table's visible width: nothing scrolls sideways.
    table = _table(desktop)
    assert not table["scrolls_sideways"], table["headers"]
    assert [h["label"] for h in table["headers"]] == labels
    for header_cell in table["headers"]:
        _inside(table, header_cell, header_cell["label"])
    for row in table["rows"]:
        for label, cell in zip(labels, row["cells"], strict=True):
            _inside(table, cell, f"{label} of {row['cells'][1]['text']}")
    _names_read_whole(table, rows=len(EVERYTHING), max_lines=1)
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
    assert page.locator("#search").is_visible(), "on a desktop the filters stay open"
    page.locator("#ranking-plot").scroll_into_view_if_needed()
    desktop.shot("layout-desktop")


def test_on_a_phone_the_ranking_comes_first_and_headers_keep_their_words(browser: Any, fresh: str) -> None:
    tab = _open(browser, fresh, 390, 844)
    try:
        page = tab.page
        header = page.locator("#leaderboard-table [role=row]").first
        # Rank, model, harm rate and its interval of every model on the first screen, inside the
        # table's visible width (the type makes room), above the selectors and filters.
        table = _table(tab)
        first_screen = ["Rank (95%)", "Model", "Harm rate %", "Harm 95% CI"]
        assert [h["label"] for h in table["headers"][:4]] == first_screen
        assert len(table["rows"]) == len(EVERYTHING)
        for label, header_cell in zip(first_screen, table["headers"], strict=False):
            _inside(table, header_cell, label)
        for row in table["rows"]:
            for label, cell in zip(first_screen, row["cells"], strict=False):
                _inside(table, cell, f"{label} of {row['cells'][1]['text']}")
                assert cell["bottom"] <= 844, f"{label} of {row['cells'][1]['text']} is below the first screen"
        assert table["page_width"] <= 390, "the page scrolls sideways"
        _names_read_whole(table, rows=len(EVERYTHING), max_lines=1)
        assert all(row["height"] <= 30 for row in table["rows"]), [row["height"] for row in table["rows"]]
        # The filters fold away under the ranking; one tap on their header opens them.
        search = page.locator("#search")
        tab.wait_for(lambda: not search.is_visible(), "the filters folded on a phone")
        page.locator("#filters button.label-wrap").click()
        tab.wait_for(lambda: search.is_visible(), "the filters opened by a tap")
        assert _box(page.locator("#leaderboard-table"))["y"] < _box(search)["y"]
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
        harm_rates = [row["cells"][2]["text"] for row in table["rows"]]
        # Without the Type column the harm rate is third, and stays shown (the type is hidden by
        # its header, not by its place).
        page.get_by_text("Columns and sorting").click()
        page.get_by_label("Type", exact=True).uncheck()
        type_header = page.locator('#leaderboard-table th[title="Type"]')
        tab.wait_for(lambda: type_header.count() == 0, "the table without its Type column")
        table = _table(tab)
        assert [h["label"] for h in table["headers"][:4]] == first_screen
        assert [row["cells"][2]["text"] for row in table["rows"]] == harm_rates
        assert tab.dialogs == []
    finally:
        page.context.close()


@pytest.mark.parametrize(("width", "height"), [(1400, 900), (390, 844)], ids=["desktop", "phone"])
def test_long_names_wrap_between_words_and_the_figures_stay_inside_the_table(
    browser: Any, crowded: str, width: int, height: int
) -> None:
    tab = _open(browser, crowded, width, height, models=None, status=f"showing {len(CROWDED)} of {len(CROWDED)}")
    try:
        tab.wait_for(lambda: len(tab.rows()) >= 12 and set(LONG_NAMES) <= tab.models(), "the first rows")
        table = _table(tab)
        assert table["scrollbar"] > 0, "the table should scroll down here, with its scroll bar showing"
        assert table["page_width"] <= width, "the page scrolls sideways"
        rows = table["rows"][:12]
        assert {row["cells"][1]["text"] for row in rows} >= set(LONG_NAMES)
        if width == 1400:
            # Every column inside the table's visible width, left of its vertical scroll bar.
            assert not table["scrolls_sideways"], table["headers"]
            columns = len(table["headers"])
            _names_read_whole(table, rows=12, max_lines=2)
        else:
            # The first screen: rank, model, harm rate and its interval.
            columns = 4
            assert [h["label"] for h in table["headers"][:4]] == ["Rank (95%)", "Model", "Harm rate %", "Harm 95% CI"]
            _names_read_whole(table, rows=12, max_lines=3, allowed={TOO_LONG_FOR_A_PHONE})
        for header_cell in table["headers"][:columns]:
            _inside(table, header_cell, header_cell["label"])
        for row in rows:
            for header_cell, cell in zip(table["headers"][:columns], row["cells"], strict=False):
                _inside(table, cell, f"{header_cell['label']} of {row['cells'][1]['text']}")
        tab.shot(f"layout-{'desktop' if width == 1400 else 'phone'}-long-names")
        assert tab.dialogs == []
    finally:
        tab.page.context.close()
