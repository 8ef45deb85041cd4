"""Every plot and figure table readable at a desktop width (1400 x 900) and on a phone (390 x 844),
in headless Chromium on a fresh deployment (the demo board and the baselines).

Issue 23.4: category ticks merged on phones, scatter labels piled on each other and on the axis,
headers broke mid-word ("Unsco/red") and the pivot cut "Risk-taking behavio" and hid "No crisis".
Checked by element geometry, not by eye only: no two texts of a plot intersect and none leaves
its plot; no table cell clips its text, no word breaks across lines, and at 1400 px no table
hides columns behind a sideways scroll. Screenshots of each go to test-artifacts/plots-*.png.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.space.test_browser import ARTIFACTS, Tab, open_tab
from tests.space.test_browser_layout import EVERYTHING, _open, fresh  # noqa: F401 (the fixture: a fresh deployment)
from tests.support.browser import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]

WIDTHS = [(1400, 900), (390, 844)]
MODEL = "demo:dismissive"
# The C1-C5 conversation chart (a gr.BarPlot) once drawn: its bars, its legend and a percent scale
# (ticks every 20, not the figures as names down a list).
TALK_CHART = {"C1", "C5", "best", "harmful", "20", "80"}

# Every text a figure draws (ticks, point and bar labels, titles, legend), Plotly's (gr.Plot) or
# Vega's (gr.BarPlot), hover layer aside: each must lie inside the figure where its block shows it
# (a block hides what overflows it), and no two may intersect (1 px of anti-aliasing allowed).
_PLOT_PROBLEMS = """(root) => {
  const svg = (root.querySelector('.svg-container') || root.querySelector('svg')).getBoundingClientRect();
  const block = root.getBoundingClientRect();
  const area = {left: Math.max(svg.left, block.left), right: Math.min(svg.right, block.right),
                top: Math.max(svg.top, block.top), bottom: Math.min(svg.bottom, block.bottom)};
  const boxes = Array.from(root.querySelectorAll('svg.main-svg text, svg.marks text'))
    .filter(t => t.textContent.trim() && !t.closest('.hoverlayer'))
    .map(t => ({text: t.textContent.trim(), box: t.getBoundingClientRect()}))
    .filter(({box}) => box.width > 0 && box.height > 0);
  const texts = boxes.map(b => b.text);  // the figure's own, not its label's
  const problems = [];
  for (const {text, box} of boxes) {
    const out = box.left < area.left - 1 || box.right > area.right + 1;
    if (out || box.top < area.top - 1 || box.bottom > area.bottom + 1)
      problems.push(`"${text}" leaves the plot`);
  }
  // Gradio's label badge sits over a gr.Plot's top left corner (a gr.BarPlot's label is a line
  // above its chart): nothing may hide under it.
  const badge = root.querySelector('[data-testid=block-label], [data-testid=block-info]');
  if (badge) boxes.push({text: `the badge ${badge.innerText.trim()}`, box: badge.getBoundingClientRect()});
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].box, b = boxes[j].box;
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
      problems.push(`"${boxes[i].text}" overlaps "${boxes[j].text}"`);
  }
  return {problems, texts, badge: !!badge};
}"""

# Every visible header and cell of a table: nothing inside clips its text, no text runs out of
# its cell, and no word is split over two lines (a break right after a hyphen or slash is a
# break between words). `sideways`: elements that hide columns behind a sideways scroll.
_TABLE_PROBLEMS = """(root) => {
  const problems = [];
  const cells = Array.from(new Set(root.querySelectorAll('th, td, [role=gridcell], [role=columnheader]')))
    .filter(c => c.checkVisibility({visibilityProperty: true, opacityProperty: true}) && c.innerText.trim())
    .filter(c => !c.closest('.sizing-body'));  // Gradio's hidden row that measures the columns
  for (const cell of cells) {
    const name = cell.innerText.trim().replace(/\\s+/g, ' ');
    const edge = cell.getBoundingClientRect();
    for (const el of [cell, ...cell.querySelectorAll('*')]) {
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
        problems.push(`"${name}" is clipped (${el.scrollWidth} > ${el.clientWidth})`);
        break;
      }
    }
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const pieces = /[^\\s\\-\\/]+[\\-\\/]?/g;
      for (let m = pieces.exec(node.data); m; m = pieces.exec(node.data)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
        const lines = new Set(rects.map(r => Math.round(r.top)));
        if (lines.size > 1) problems.push(`"${m[0]}" breaks across lines in "${name}"`);
        if (rects.some(r => r.left < edge.left - 1 || r.right > edge.right + 1))
          problems.push(`"${m[0]}" runs out of its cell in "${name}"`);
      }
    }
  }
  const sideways = Array.from(root.querySelectorAll('*')).filter(el =>
    el.scrollWidth > el.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)).length;
  return {problems, cells: cells.length, sideways};
}"""


def shot(tab: Tab, selector: str, name: str) -> None:
    element = tab.page.locator(selector)
    element.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    element.screenshot(path=str(ARTIFACTS / f"plots-{name}.png"))


def check_plot(tab: Tab, selector: str, name: str, expect: set[str]) -> list[str]:
    """The plot at `selector` once its texts hold each of `expect`: screenshot, then its problems."""
    plot = tab.page.locator(selector)

    def shown() -> bool:
        texts = plot.evaluate(_PLOT_PROBLEMS)["texts"]
        return all(any(e in t for t in texts) for e in expect)

    tab.wait_for(shown, f"{name} showing {sorted(expect)}")
    tab.page.wait_for_timeout(300)  # Plotly's last relayout after the size settles
    shot(tab, selector, name)
    found = plot.evaluate(_PLOT_PROBLEMS)
    assert found["badge"], f"{name}: no Gradio label badge found to check against"
    return [f"{name}: {p}" for p in found["problems"]]


def check_table(tab: Tab, selector: str, name: str, expect: set[str], *, scroll_ok: bool) -> list[str]:
    """The table at `selector` once its text holds `expect`: screenshot, then its problems."""
    table = tab.page.locator(selector)
    tab.wait_for(lambda: all(e in table.inner_text() for e in expect), f"{name} showing {sorted(expect)}")
    shot(tab, selector, name)
    found = table.evaluate(_TABLE_PROBLEMS)
    assert found["cells"] > len(expect), found
    problems = [f"{name}: {p}" for p in found["problems"]]
    if not scroll_ok and found["sideways"]:
        problems.append(f"{name}: columns hidden behind a sideways scroll")
    return problems


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_leaderboard_plots_and_pivot_are_readable(browser: Any, fresh: str, width: int, height: int) -> None:  # noqa: F811
    tab = _open(browser, fresh, width, height)
    try:
        problems = check_plot(tab, "#ranking-plot", f"ranking-{width}", EVERYTHING)
        problems += check_plot(tab, "#category-plot", f"category-{width}", {"Overall", "No crisis"})
        problems += check_plot(tab, "#scatter", f"scatter-{width}", {"demo:attentive"})
        # Full category names in the pivot, every column on a desktop page (a phone scrolls it).
        names = {"Overall", "Risk-taking behaviours", "No crisis", "demo:attentive"}
        problems += check_table(tab, "#pivot-table", f"pivot-{width}", names, scroll_ok=width < 640)
        # The longest scope a title names: a two-word category and a signal, wrapped on a phone.
        tab.choose("category", "Substance use / withdrawal")
        tab.page.locator("#signal label", has_text="ambiguous").click()
        scoped = {"withdrawal, ambiguous"}
        problems += check_plot(tab, "#ranking-plot", f"ranking-scoped-{width}", scoped)
        problems += check_plot(tab, "#scatter", f"scatter-scoped-{width}", scoped)
        assert problems == [], "\n".join(problems)
        assert tab.dialogs == []
    finally:
        tab.page.context.close()


# The model page's tables -> (a text each shows, whether a phone may scroll it sideways).
MODEL_TABLES = {
    # Fourteen columns: all on a desktop page; sideways on a phone (issue 23.2).
    "model-categories": ({"Unscored", "Appropriate", "Risk-taking behaviours"}, True),
    "model-failures": ({"unamiable_judgment"}, True),
    "model-examples": ({"unamiable_judgment", "Suicidal ideation"}, True),
    "model-confusion": ({"Substance use / withdrawal", "(no label)"}, True),
    "model-detection": ({"recall: Self-harm", "answers that named no label"}, False),
    "model-refusal": ({"over-refusal"}, False),
    "model-support": ({"cognitive", "affective"}, False),
    "model-metadata": ({"judge prompt hash", "max_new_tokens=1024,"}, False),
}


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_model_page_tables_and_plot_are_readable(browser: Any, fresh: str, width: int, height: int) -> None:  # noqa: F811
    tab = _open(browser, fresh, width, height)
    try:
        tab.open_model(MODEL)
        problems = check_plot(tab, "#model-plot", f"model-{width}", {"Overall", "No crisis"})
        # The C1-C5 chart of its conversation section (the Conversations tab's chart).
        problems += check_plot(tab, "#model-conversation-chart", f"model-talk-chart-{width}", TALK_CHART)
        for elem_id, (expect, phone_scrolls) in MODEL_TABLES.items():
            scroll_ok = phone_scrolls and width < 640
            problems += check_table(tab, f"#{elem_id}", f"{elem_id}-{width}", expect, scroll_ok=scroll_ok)
        assert problems == [], "\n".join(problems)
    finally:
        tab.page.context.close()


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_conversations_table_and_chart_are_readable(browser: Any, fresh: str, width: int, height: int) -> None:  # noqa: F811
    tab = _open(browser, fresh, 1400, 900)  # the tab bar folds tabs into a menu on phones
    try:
        open_tab(tab, "Conversations")
        tab.page.set_viewport_size({"width": width, "height": height})
        tab.choose("talk-model", "demo:attentive")
        problems = check_plot(tab, "#talk-chart", f"talk-chart-{width}", TALK_CHART)
        box = tab.page.locator("#talk-chart").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        expect = {"C1 detects the risk", "Stayed after refusal"}
        problems += check_table(tab, "#talk-table", f"talk-table-{width}", expect, scroll_ok=width < 640)
        assert problems == [], "\n".join(problems)
    finally:
        tab.page.context.close()
