"""The Space on a Hub store, in headless Chromium: a worker elsewhere publishes, the Space's mirror
refreshes on its timer and the page shows the model; with the Hub gone the page says so and
keeps the last rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from submissions import Queue, Settings, Status, current_set, enqueue
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, loopback_context
from tests.support.hub_store import HubSite, hub_site
from tests.test_hub_e2e import STORE, _finish, _worker

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def _wait(page: object, check: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # the page is still rendering
            pass
        page.wait_for_timeout(200)  # type: ignore[attr-defined]
    raise AssertionError(f"timed out waiting for {what}")


def _models(page: object) -> set[str]:
    rows = page.locator("#leaderboard-table [role=row]").all()[1:]  # type: ignore[attr-defined]
    out = set()
    for row in rows:
        cells = [c.strip() for c in row.locator("[role=gridcell]").all_inner_texts()]
        if len(cells) > 1:
            out.add(cells[1])
    return out


def test_the_space_page_shows_what_a_remote_worker_published(site: HubSite) -> None:
    from playwright.sync_api import sync_playwright

    from space.app import build_app, launch
    from tests.space.conftest import free_port, submit_options

    space = site.open("space", writable=False)
    queue = Queue.local(space, Settings.from_env())
    record = enqueue(
        queue, spec="baseline:template", submitter="maintainer", target=current_set(space.data), maintainer=True
    )
    demo = build_app(space, enable_login=False, submit_options=submit_options())
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    space.start_refresher(0.5)  # CRISIS_MIRROR_INTERVAL on a real Space: 60 s
    try:
        _finish(_worker(site, "gpu-box", "--until-idle"))

        # The worker commits the rows before it marks the request FINISHED, so a refresh can land
        # between the two: wait for the mirror to hold both.
        def mirrored() -> bool:
            status = Queue.local(space, Settings.from_env()).get(record.id).status
            return status == Status.FINISHED and bool(list(space.data.results.glob("*.parquet")))

        deadline = time.monotonic() + 30
        while not mirrored() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mirrored(), "the Space's mirror never showed the finished request with its rows"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = loopback_context(browser).new_page()
                page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
                _wait(page, lambda: any("template" in m for m in _models(page)), "the published model")
                assert page.locator("#store-status").inner_text().strip() == ""

                site.stop()  # the Hub goes away: the timer's next refresh fails
                time.sleep(1.5)
                page.reload(timeout=120_000)
                _wait(page, lambda: "not answering" in page.locator("#store-status").inner_text(), "the status")
                assert "last copy" in page.locator("#store-status").inner_text()
                _wait(page, lambda: any("template" in m for m in _models(page)), "the last mirror's rows")
            finally:
                browser.close()
    finally:
        space.close()
        demo.close()
