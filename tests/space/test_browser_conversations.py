"""The Conversations tab in headless Chromium on a fresh deployment (`python app.py` seeds the
demo models in conversations too): the board, a model's figures, a public transcript.

A screenshot goes to test-artifacts/conversations.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluator.backends.demo import DEMO_SPECS
from evaluator.storage import DataDir
from tests.space.conftest import serving
from tests.space.test_browser import ARTIFACTS, open_tab, page_on
from tests.support.browser import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser

EVERYTHING = {*DEMO_SPECS}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from app import seed_demo  # the repository root is on sys.path

    data = DataDir.at(Path(tmp_path_factory.mktemp("talk")) / "var")
    seed_demo(data)
    with serving(data, demo=True) as app:
        yield app.url


def test_conversations_tab_ranks_shows_a_model_and_a_transcript(browser: Browser, served: str) -> None:
    with page_on(browser, served, EVERYTHING, "Demo board") as tab:
        page = tab.page
        open_tab(tab, "Conversations")

        def table_text() -> str:
            return page.locator("#talk-table").inner_text()

        tab.wait_for(lambda: all(m in table_text() for m in DEMO_SPECS), "the conversation table")
        assert "C1 detects the risk" in table_text() and "Stayed after refusal" in table_text()
        tab.choose("talk-model", "demo:attentive")
        summary = page.locator("#talk-summary")
        tab.wait_for(lambda: "post-refusal stay rate" in summary.inner_text(), "the model's figures")
        tab.wait_for(lambda: page.locator("#talk-chart canvas, #talk-chart svg").count() > 0, "the C1-C5 chart")
        page.locator("#talk-transcript-choice input[role=combobox]").click()
        page.locator("[role=option]", has_text="pp-si-001").first.click()
        transcript = page.locator("#talk-transcript")
        tab.wait_for(lambda: "Model 1" in transcript.inner_text(), "the transcript")
        text = transcript.inner_text()
        assert "Person 1:" in text and "level" in text and "Verdicts: C1" in text
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "conversations.png"), full_page=True)
