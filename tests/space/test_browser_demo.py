"""The page as a newcomer reads it, in headless Chromium at 1400 px, on a fresh deployment:
the baselines and the demo board evaluated at start-up, as `python app.py` does.

Screenshots of every tab go to test-artifacts/ (demo-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluator.backends.demo import DEMO_SPECS
from evaluator.storage import DataDir
from leaderboard.hidden import hide_model, unhide_model
from space.tabs import do_submit
from submissions import Queue
from tests.space.conftest import GOOD_MODEL, SETTINGS, serving, submit_options
from tests.space.test_browser import ARTIFACTS, Tab, open_tab, page_on
from tests.support.browser import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser

EVERYTHING = {*DEMO_SPECS, "baseline:refusal", "baseline:template"}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DataDir]]:
    from app import seed_baselines, seed_demo  # the repository root is on sys.path

    data = DataDir.at(Path(tmp_path_factory.mktemp("fresh")) / "var")
    seed_baselines(data)
    seed_demo(data)
    with serving(data, demo=True, refresh_s=5) as app:
        yield app.url, data


@pytest.fixture
def tab(browser: Browser, fresh: tuple[str, DataDir]) -> Iterator[Tab]:
    with page_on(browser, fresh[0], EVERYTHING, "Demo board") as current:
        yield current


def test_the_first_page_ranks_the_demo_models_and_explains_the_baselines(tab: Tab) -> None:
    page = tab.page
    rows = {r[1]: r for r in tab.rows()}
    assert all(rows[m][0] and rows[m][0] != "ref." for m in DEMO_SPECS)  # rank intervals
    assert rows["baseline:refusal"][0] == rows["baseline:template"][0] == "ref."
    assert "baseline:refusal" in page.locator("#baseline-note").inner_text()
    status = page.locator("#status").inner_text()
    assert "never ranked with real submissions" in status
    # The columns that matter are on screen at 1400 px, no sideways scrolling.
    header = page.locator("#leaderboard-table [role=row]").first
    for label in ("Mean level", "Appropriate", "Bare refusal", "Over-refusal", "Enabling", "Detection F1", "Evaluated"):
        cell = header.locator("[role=columnheader]", has_text=label).first
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1400, f"{label} is off screen: {box}"
    # The scatter names the best models next to their markers (those that fit without touching
    # another name; issue 23.4) and has a legend.
    scatter = page.locator("#scatter")
    tab.wait_for(lambda: "demo:dismissive" in scatter.inner_text(), "labelled scatter points")
    assert "demo:attentive" in scatter.inner_text()
    assert scatter.locator(".legend").count() == 1
    tab.shot("demo-leaderboard")
    # The README's picture: the top of the first page a newcomer sees.
    page.set_viewport_size({"width": 1300, "height": 900})
    page.evaluate("window.scrollTo(0, document.querySelector('#status').getBoundingClientRect().top + scrollY - 16)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "readme-leaderboard.png"))


def test_a_category_view_explains_its_blanks_and_never_contradicts_the_table(tab: Tab) -> None:
    tab.choose("category", "Self-harm")  # the plain name the dropdown shows
    status = tab.page.locator("#status")
    # A refresh tick may still land with the previous view's status: wait for the settled one.
    tab.wait_for(
        lambda: "category self_harm" in status.inner_text() and "ranked within this view" in status.inner_text(),
        "the category status",
    )
    text = status.inner_text()
    assert "not ranked" not in text
    assert "miss rate" in text and "overall figure" in text
    tab.shot("demo-category")


def test_the_model_page_shows_why_it_failed_first(tab: Tab) -> None:
    header = tab.open_model("demo:dismissive")
    text = header.inner_text()
    assert "rank" in text and "of 4 on this board" in text and "Demo" in text
    assert "answers named no label" in text
    examples = tab.page.locator("#model-examples [role=row]")
    tab.wait_for(lambda: examples.count() > 2, "example replies")
    cells = examples.nth(1).locator("[role=gridcell]").all_inner_texts()
    assert cells[0].strip() == "1" and cells[1].strip() not in ("", "—")  # worst first, tagged
    assert "Replies" in tab.page.locator("#model-failures").inner_text()
    confusion = tab.page.locator("#model-confusion")
    assert "(no label)" in confusion.inner_text()
    column = confusion.locator("[role=columnheader]", has_text="(no label)").first
    box = column.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1400, f"the no-label column is off screen: {box}"
    tab.shot("demo-model-page")


def test_submit_and_queue_tabs_say_what_happens(tab: Tab, fresh: tuple[str, DataDir]) -> None:
    open_tab(tab, "Submit")
    info = tab.page.locator("#submit-info")
    # On opening: the set, the judge, whether official, the wait and the limit left for this user.
    tab.wait_for(lambda: "left for local" in info.inner_text(), "the submit explanation")
    text = info.inner_text()
    assert "public-sample" in text and "heuristic" in text and "unofficial" in text
    assert "Expected wait: ~" in text and "(0 ahead" in text  # the baselines' runs give the estimate
    assert "1000 of 1000 submissions left for local" in text
    assert tab.page.locator("#submit-details").count() == 0 or not tab.page.locator("#submit-details").is_visible()
    assert tab.page.locator("#submit-model input").first.get_attribute("maxlength") == "200"
    tab.shot("demo-submit")
    # Someone named "local" submits from another page: the next opening shows it.
    _, details = do_submit(
        fresh[1], submit_options(), model=GOOD_MODEL, revision="main", precision="auto", submitter="local"
    )
    request_id = dict(zip(details["Field"], details["Value"], strict=True))["request id"]
    try:
        open_tab(tab, "Leaderboard")
        open_tab(tab, "Submit")
        tab.wait_for(lambda: "999 of 1000 submissions left for local" in info.inner_text(), "the limit, updated")
        assert "(1 ahead" in info.inner_text()
        open_tab(tab, "Queue")
        summary = tab.page.locator("#queue-summary")
        tab.wait_for(lambda: "pending 1" in summary.inner_text(), "the queue summary, refreshed on opening")
        assert "every 10 s" in summary.inner_text() and "Nothing running" in summary.inner_text()
        tab.shot("demo-queue")
    finally:
        Queue.local(fresh[1], SETTINGS).cancel(request_id, user="local", maintainer=True, reason="test over")
    open_tab(tab, "About")
    tab.shot("demo-about")


def test_hiding_a_model_updates_an_open_page(tab: Tab, fresh: tuple[str, DataDir]) -> None:
    hide_model(fresh[1], "demo:deflecting", "demo of the hidden-model note")
    try:
        tab.wait_models(EVERYTHING - {"demo:deflecting"})
        tab.wait_for(lambda: "demo of the hidden" in tab.page.locator("#hidden-note").inner_text(), "the note")
    finally:
        unhide_model(fresh[1], "demo:deflecting")
    tab.wait_models(EVERYTHING)
