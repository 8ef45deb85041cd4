"""Guessing the admin token costs time, is logged without the guess, and is counted (issue 10.5)."""

from __future__ import annotations

import json
from pathlib import Path

from evaluator.audit import read_admin_log
from evaluator.storage import DataDir
from space.admin import AdminAccess, TokenGuard
from space.admin_panel import AdminActions
from submissions import Settings

TOKEN = "the-right-admin-token"


def test_repeated_wrong_tokens_lock_the_client_out_and_are_logged(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    actions = AdminActions(data, AdminAccess(env={"CRISIS_ADMIN_TOKEN": TOKEN}), Settings(rate_limit=5))
    for n in range(TokenGuard.CLIENT_FREE + 1):
        opened = actions.sign_in(f"guess-{n}", "eve", None, None)
        assert opened[0].visible is False
    # Locked out: even the right token is not compared until the back-off has passed.
    locked = actions.sign_in(TOKEN, "eve", None, None)
    assert locked[0].visible is False and "Too many wrong admin tokens" in locked[2]
    failures = [r for r in read_admin_log(data) if r["action"] == "admin_token_failed"]
    assert len(failures) == TokenGuard.CLIENT_FREE + 1
    assert "guess-" not in json.dumps(read_admin_log(data))  # never the guess itself
    assert actions.guard.failed_total == TokenGuard.CLIENT_FREE + 1


def test_back_off_grows_and_many_failures_slow_every_guesser(tmp_path: Path) -> None:
    now = [0.0]
    guard = TokenGuard(DataDir.at(tmp_path / "var"), clock=lambda: now[0])
    for _ in range(TokenGuard.CLIENT_FREE):
        guard.failed("10.0.0.1")
    assert guard.refusal("10.0.0.1") is None
    guard.failed("10.0.0.1")
    assert guard.refusal("10.0.0.1") is not None
    now[0] += 1.5
    assert guard.refusal("10.0.0.1") is None
    for n in range(TokenGuard.GLOBAL_FREE):
        guard.failed(f"10.1.{n}.1")  # many addresses, a few guesses each
    # No global lock (issue 17.9): an address that is not guessing is compared as usual, and
    # a guessing one backs off from its first failure.
    assert guard.refusal("10.9.9.9") is None
    guard.failed("10.9.9.9")
    assert guard.refusal("10.9.9.9") is not None


def test_the_panel_shows_the_failure_count(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    actions = AdminActions(data, AdminAccess(env={"CRISIS_ADMIN_TOKEN": TOKEN}), Settings(rate_limit=5))
    actions.sign_in("wrong", "eve", None, None)
    opened = actions.sign_in(TOKEN, "ops", None, None)
    assert opened[0].visible is True
    assert "Failed admin-token attempts since start-up: **1**" in opened[3]
