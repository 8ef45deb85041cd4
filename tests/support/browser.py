"""Debian's Chromium for browser tests: the launch flags this closed network needs, and
contexts that can only reach loopback (a page asking for anything else is refused at once
instead of hanging)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
_LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")


def loopback_context(browser: Any, **options: Any) -> Any:
    """A new browser context whose requests off this machine are aborted."""
    context = browser.new_context(**({"viewport": {"width": 1400, "height": 1000}} | options))
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(_LOCAL) else route.abort(),
    )
    return context
