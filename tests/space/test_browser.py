"""The real page in headless Chromium: table, filters, category switch, model page, XSS.

Every request the page makes outside loopback is aborted, so the tests stay offline (the
theme's web fonts simply fall back). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.space.conftest import FAILURE_REASON, GOOD_MODEL, Served
from tests.support.browser import CHROMIUM, loopback_context
from tests.support.results_factory import HOSTILE_NAME

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ALL = {"acme/safe-7b", "acme/mid-70b", "other/risky-1b", "api-chat", "baseline:refusal", HOSTILE_NAME}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make chromium)"),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page


class Tab:
    """One page on the app, with the dialogs it opened (any dialog is a failed XSS test)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    def rows(self) -> list[list[str]]:
        out = []
        for row in self.page.locator("#leaderboard-table [role=row]").all()[1:]:  # [0] is the header
            out.append([c.strip() for c in row.locator("[role=gridcell]").all_inner_texts()])
        return out

    def models(self) -> set[str]:
        return {cells[1] for cells in self.rows() if len(cells) > 1}

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except Exception:  # an element re-rendering mid-read: look again
                pass
            self.page.wait_for_timeout(150)
        raise AssertionError(f"timed out waiting for {what}; table has {sorted(self.models())}")

    def wait_models(self, expected: set[str]) -> None:
        self.wait_for(lambda: self.models() == expected, f"models {sorted(expected)}")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def open_model(self, model: str) -> Any:
        """Select the model's row by its rank cell and wait for its model page; the header."""
        row = next(i for i, r in enumerate(self.rows()) if r[1] == model)
        self.page.locator(f"#leaderboard-table [data-testid=cell-{row}-0]").click()
        header = self.page.locator("#model-header")
        self.wait_for(lambda: model in header.inner_text(), f"the model page of {model}")
        return header

    def download(self, selector: str, *, text: bool = True) -> Any:
        """What clicking the link at `selector` downloads, as a user's browser saves it."""
        with self.page.expect_download() as started:
            self.page.locator(selector).click()
        body = Path(started.value.path()).read_bytes()
        return body.decode("utf-8") if text else body

    def choose(self, elem_id: str, option: str) -> None:
        self.page.locator(f"#{elem_id} input[role=combobox]").click()
        self.page.locator(f'[role=option][aria-label="{option}"]').first.click()


@contextlib.contextmanager
def page_on(browser: Browser, url: str, models: set[str], status: str) -> Iterator[Tab]:
    """A fresh page on `url` (1400 x 1000, loopback only), once the page load has refreshed
    the table to `models` and the status line to say `status`; no dialog may open on it."""
    context = loopback_context(browser)
    page = context.new_page()
    page.goto(url)
    current = Tab(page)
    current.wait_models(models)
    current.wait_for(lambda: status in page.locator("#status").inner_text(), "the status line")
    try:
        yield current
    finally:
        assert current.dialogs == [], f"a dialog opened: {current.dialogs}"
        context.close()


@pytest.fixture
def tab(browser: Browser, served: Served) -> Iterator[Tab]:
    with page_on(browser, served.url, ALL, "showing") as current:
        yield current


def test_the_table_renders_ranked(tab: Tab) -> None:
    rows = tab.rows()
    header = tab.page.locator("#leaderboard-table [role=row]").first.inner_text()
    for label in ("Rank (95%)", "Model", "Harm rate %", "Harm 95% CI", "Miss rate %", "Evaluated"):
        assert label in " ".join(header.split())  # headers wrap
    assert rows[0][1] == "acme/safe-7b" and rows[0][0] == "1–2"
    assert "ref." in {r[0] for r in rows}
    # Plain names in the table (the Hub link is on the model page), compact numbers.
    assert tab.page.locator("#leaderboard-table a").count() == 0
    assert all("." in r[3] for r in rows if r[3] not in ("—", ""))  # harm rate: one decimal
    assert "showing 6 of 6" in tab.page.locator("#status").inner_text()
    tab.shot("leaderboard-table")
    # Downloads are links to the REST routes, in step with the filters: the table as shown, as
    # CSV, and every result as Parquet; no server file or path is handed to the page.
    assert tab.download("#download-csv").splitlines()[0].startswith("Rank (95%),Model,Hub page,")
    fill(tab, "#search textarea", "acme")
    tab.wait_models({"acme/safe-7b", "acme/mid-70b"})
    link = tab.page.locator("#download-csv")
    tab.wait_for(lambda: "search=acme" in (link.get_attribute("href") or ""), "the CSV link to follow the filter")
    shown = [line.split(",")[1] for line in tab.download("#download-csv").splitlines()[1:]]
    assert shown == [row[1] for row in tab.rows()]
    parquet = tab.download("#download-parquet", text=False)
    assert parquet.startswith(b"PAR1") and "/gradio_api/file=" not in tab.page.content()


def fill(tab: Tab, selector: str, value: str, key: str = "Tab") -> None:
    field = tab.page.locator(selector)
    field.fill(value)
    field.press(key)


def choose_license(tab: Tab, name: str) -> None:
    tab.choose("licenses", name)
    tab.page.keyboard.press("Escape")


def remove_license(tab: Tab, name: str) -> None:
    tab.page.locator("#licenses .token", has_text=name).locator(".token-remove").click()


# (name, apply, expected models, undo): applied one after another on one page, each undone
# before the next, so every filter is checked alone without a page load per filter.
FILTERS: list[tuple[str, Callable[[Tab], object], set[str], Callable[[Tab], object]]] = [
    (
        "search",
        lambda t: fill(t, "#search textarea", "acme 7b; risky"),
        {"acme/safe-7b", "other/risky-1b"},
        lambda t: fill(t, "#search textarea", ""),
    ),
    (
        "baselines",
        lambda t: t.page.locator("#show-baselines input[type=checkbox]").uncheck(),
        ALL - {"baseline:refusal"},
        lambda t: t.page.locator("#show-baselines input[type=checkbox]").check(),
    ),
    (
        "model-type",
        lambda t: t.page.locator("#model-types label", has_text="api").click(),
        {"api-chat", "baseline:refusal"},
        lambda t: t.page.locator("#model-types label", has_text="api").click(),
    ),
    ("license", lambda t: choose_license(t, "mit"), {"other/risky-1b"}, lambda t: remove_license(t, "mit")),
    (
        "params",
        lambda t: fill(t, "#params-min input", "5"),
        {"acme/safe-7b", "acme/mid-70b"},
        lambda t: fill(t, "#params-min input", "0"),
    ),
    (
        "harm-range",
        lambda t: fill(t, "#harm-max input[data-testid=number-input]", "10", "Enter"),
        {"acme/safe-7b", "api-chat", "baseline:refusal"},
        lambda t: fill(t, "#harm-max input[data-testid=number-input]", "100", "Enter"),
    ),
]


def test_each_filter_changes_the_rows(tab: Tab) -> None:
    status = tab.page.locator("#status")
    for name, apply, expected, undo in FILTERS:
        apply(tab)
        tab.wait_models(expected)
        count = len(expected)
        tab.wait_for(lambda n=count: f"showing {n} of {n} matching" in status.inner_text(), f"{name} status")
        tab.shot(f"filter-{name}")
        undo(tab)
        tab.wait_models(ALL)


def test_signal_switches_figures_and_unranks_the_overall_view(tab: Tab) -> None:
    tab.page.locator("#signal label", has_text="indirect").click()
    # The table and the status line are separate events: wait for each.
    tab.wait_for(lambda: "not ranked" in tab.page.locator("#status").inner_text(), "the signal status")
    tab.wait_for(
        lambda: any(r[1] == "acme/safe-7b" and r[0] == "—" and "20.0" in r for r in tab.rows()),
        "indirect-signal harm rate (20%) for acme/safe-7b, without a rank",
    )
    tab.shot("filter-signal")


def test_category_switch(tab: Tab) -> None:
    tab.choose("category", "Self-harm")  # the plain name the dropdown shows
    tab.wait_for(
        lambda: any(r[1] == "acme/mid-70b" and "50.0" in r for r in tab.rows()), "self_harm figures for acme/mid-70b"
    )
    tab.wait_for(lambda: "category self_harm" in tab.page.locator("#status").inner_text(), "the category status")
    ranked = [r for r in tab.rows() if r[0] != "ref."]  # the baselines sit below the ranked rows
    assert ranked[-1][1] == "acme/mid-70b"  # now the worst on self_harm
    tab.shot("category-self-harm")


def test_selecting_a_row_opens_the_model_page(tab: Tab) -> None:
    header = tab.open_model("acme/mid-70b")
    assert tab.page.locator("button[role=tab][aria-selected=true]").inner_text() == "Model page"
    categories = tab.page.locator("#model-categories [role=row]")
    tab.wait_for(lambda: categories.count() == 9, "one row per category plus overall and the header")
    assert "Self-harm" in categories.nth(3).inner_text() and "50.0%" in categories.nth(3).inner_text()
    assert "Hugging Face page" in header.inner_text()
    assert "judge-a" in tab.page.locator("#model-metadata").inner_text()
    tab.shot("model-page")


def test_a_hostile_model_name_is_shown_as_text(tab: Tab) -> None:
    page = tab.page
    page.locator("#search textarea").fill("script")
    tab.wait_models({HOSTILE_NAME})
    # The exact characters are visible as text ...
    assert page.locator("#leaderboard-table [role=gridcell]", has_text=HOSTILE_NAME).count() == 1
    tab.wait_for(lambda: HOSTILE_NAME in page.locator("#pivot-table").inner_text(), "the name in the pivot")
    # ... and none of it became markup anywhere on the page.
    # (Gradio's own config script holds the name too, JSON-escaped: not an injected element.)
    injected = page.evaluate(
        """() => [
            ...document.querySelectorAll('img[src="x"], [onerror]'),
            ...[...document.querySelectorAll('script')].filter(e => e.textContent.trim().startsWith('alert(')),
        ].length"""
    )
    assert injected == 0
    tab.open_model(HOSTILE_NAME)
    assert page.evaluate("() => document.querySelectorAll('#model-header img, #model-header script').length") == 0
    page.wait_for_timeout(500)  # give any injected handler its chance to fire
    assert tab.dialogs == []
    tab.shot("xss-model-page")


def open_tab(tab: Tab, name: str) -> None:
    tab.page.locator("button[role=tab]", has_text=name).click()


def left_for_local(tab: Tab) -> int:
    found = re.search(r"(\d+) of 1000 submissions left for local", tab.page.locator("#submit-info").inner_text())
    assert found is not None
    return int(found.group(1))


def test_submit_shows_a_validation_error_then_a_success_and_follows_it_to_the_queue(tab: Tab) -> None:
    page = tab.page
    open_tab(tab, "Submit")
    # Opening the tab says what is left for the user this page names (locally, the name box).
    tab.wait_for(lambda: "left for local" in page.locator("#submit-info").inner_text(), "the limit left")
    before = left_for_local(tab)
    follow = page.locator("#submit-to-queue")
    assert not follow.is_visible()  # nothing to follow before a request
    message = page.locator("#submit-message")
    page.locator("#submit-model input").fill("nobody/missing")
    page.locator("#submit-button").click()
    tab.wait_for(lambda: "was not found on the Hugging Face Hub" in message.inner_text(), "the validation error")
    assert message.inner_text().startswith("❌") and not follow.is_visible()
    tab.shot("submit-error")
    page.locator("#submit-model input").fill(GOOD_MODEL)
    page.locator("#submit-button").click()
    tab.wait_for(lambda: "Queued" in message.inner_text(), "the success message")
    assert "position" in message.inner_text()
    assert GOOD_MODEL in page.locator("#submit-details").inner_text()
    assert left_for_local(tab) == before - 1
    request = re.search(r"as request (\S+)", message.inner_text())
    assert request is not None
    request_id = request.group(1)
    tab.shot("submit-success")
    # The link to the queue is a button that opens the Queue tab on this request.
    tab.wait_for(lambda: follow.is_visible(), "the button to the queue")
    assert follow.evaluate("e => e.tagName") == "BUTTON" and request_id in follow.inner_text()
    follow.click()
    selected = page.locator("button[role=tab][aria-selected=true]")
    tab.wait_for(lambda: selected.inner_text() == "Queue", "the Queue tab")
    line = page.locator("#queue-request")
    tab.wait_for(lambda: request_id in line.inner_text() and "pending, position" in line.inner_text(), "the request")
    assert GOOD_MODEL in line.inner_text() and GOOD_MODEL in page.locator("#queue-pending").inner_text()
    tab.shot("submit-followed-to-queue")


def test_the_queue_shows_a_failure_reason_as_text(tab: Tab) -> None:
    open_tab(tab, "Queue")
    failed = tab.page.locator("#queue-failed")
    tab.wait_for(lambda: FAILURE_REASON in failed.inner_text(), "the failure reason")
    assert "running" in tab.page.locator("#queue-running").inner_text()
    assert tab.page.evaluate("() => document.querySelectorAll('#queue-failed img, #queue-failed b').length") == 0
    assert "failed 1" in tab.page.locator("#queue-summary").inner_text()
    tab.shot("queue")
