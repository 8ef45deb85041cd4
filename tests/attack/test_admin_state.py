"""Issue 17.5: on a Hub store every maintainer action is a commit, never only the Space's disk.

A Space's disk is lost on restart: hides (public/hidden.json) go to the public results repo,
the admin log and audit reports to the private repo, and a fresh Space on an empty disk sees
them. A Space that started while the Hub was away leaves read-only mode by itself when the
Hub is back; an action that cannot be committed says so on the page, changing nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluator.audit import read_admin_log
from leaderboard.hidden import read_hidden
from leaderboard.store import ResultStore
from space.admin import TOKEN_ENV, AdminAccess
from space.admin_panel import AdminActions
from tests.support.hub_store import HubSite, hub_site
from tests.support.results_factory import RunSpec, write_run

STORE = "hub:crisis-org/admin"
REPOS = "crisis-org/admin"
TOKEN = "admin-token-for-the-state-tests-0123456789"
ENV = {TOKEN_ENV: TOKEN}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def _seed_results(site: HubSite) -> None:
    writer = site.open("seeder")
    path = write_run(writer.data, RunSpec(model="org/visible-model"))
    writer.push([path.relative_to(writer.data.root).as_posix()], "results")


def _panel(store: Any) -> tuple[AdminActions, dict[str, Any]]:
    actions = AdminActions(store, AdminAccess(env=ENV), store=ResultStore(store.data, persist=False))
    return actions, actions.handlers()


def _call(handlers: dict[str, Any], name: str, target: str = "", text: str = "") -> tuple[Any, ...]:
    return tuple(handlers[name](target, text, TOKEN, "alice", None, None, None))


def test_hides_the_admin_log_and_audit_reports_survive_a_restart(site: HubSite) -> None:
    _seed_results(site)
    space = site.open("space-1")
    _actions, handlers = _panel(space)
    out = _call(handlers, "hide", "org/visible-model", "its results are under review")
    assert "Hidden" in out[1], out[1]
    out = _call(handlers, "audit")
    assert "Audit done" in out[1], out[1]

    # Public: anyone can read the hide and its reason from the results repo.
    hidden = json.loads(site.anonymous_download(f"{REPOS}-results", "public/hidden.json"))
    assert [m["model"] for m in hidden["models"]] == ["org/visible-model"]

    # A restarted Space: a new, empty disk.
    again = site.open("space-2")
    assert list(read_hidden(again.data)) == ["org/visible-model"]
    again.pull("logs/")
    actions = [r["action"] for r in read_admin_log(again.data)]
    assert "leaderboard.hide" in actions and "audit.run" in actions
    private = again.remote_files("private")
    assert any(p.startswith("logs/audit/") for p in private), sorted(private)


def test_an_action_the_hub_cannot_take_says_so_and_changes_nothing(site: HubSite) -> None:
    _seed_results(site)
    space = site.open("space")
    _actions, handlers = _panel(space)
    site.stop()
    try:
        out = _call(handlers, "hide", "org/visible-model", "under review")
    finally:
        site.start()
    assert "not saved" in out[1].lower() and "hub" in out[1].lower(), out[1]
    assert read_hidden(space.data) == {}


def test_a_space_started_while_the_hub_was_down_leaves_read_only_when_it_is_back(site: HubSite) -> None:
    _seed_results(site)
    site.open("space").close()  # the Space ran once: its disk holds a mirror
    site.stop()
    try:
        space = site.open("space", writable=False)
        assert space.read_only
    finally:
        site.start()
    deadline = time.monotonic() + 20
    while space.read_only and time.monotonic() < deadline:
        space.refresh()
        time.sleep(0.2)
    assert not space.read_only and space.status_line is None
    _actions, handlers = _panel(space)
    out = _call(handlers, "hide", "org/visible-model", "under review")
    assert "Hidden" in out[1], out[1]
