"""Issue 17.9: guessing from many addresses slows guessers down, never locks the maintainer out.

Before: 50 wrong guesses from a few addresses locked token sign-in for everyone for 60 s,
renewed by one guess a minute, so an attacker could keep the real token out indefinitely.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from evaluator.storage import DataDir
from space.admin import AdminAccess, TokenGuard
from space.admin_panel import AdminActions
from submissions import Settings

TOKEN = "the-right-admin-token-for-lockout-tests"
MAINTAINER = "192.0.2.10"


def _request(host: str) -> object:
    return SimpleNamespace(client=SimpleNamespace(host=host))


def _panel(tmp_path: Path) -> tuple[AdminActions, list[float]]:
    now = [1000.0]
    data = DataDir.at(tmp_path / "var")
    actions = AdminActions(data, AdminAccess(env={"CRISIS_ADMIN_TOKEN": TOKEN}), Settings(rate_limit=5))
    actions.guard = TokenGuard(data, clock=lambda: now[0])
    return actions, now


def _sign_in(actions: AdminActions, secret: str, host: str) -> tuple[bool, str]:
    out = actions.sign_in(secret, "someone", None, None, _request(host))  # type: ignore[arg-type]
    return bool(out[0].visible), str(out[2])


def test_many_addresses_guessing_never_lock_the_right_token_out(tmp_path: Path) -> None:
    actions, now = _panel(tmp_path)
    attackers = [f"198.51.100.{n}" for n in range(5)]
    for n in range(TokenGuard.GLOBAL_FREE):
        _sign_in(actions, f"guess-{n}", attackers[n % len(attackers)])
        now[0] += 0.01
    opened, said = _sign_in(actions, TOKEN, MAINTAINER)
    assert opened, said
    # One guess a minute keeps the old global lock renewed; the maintainer still gets in each time.
    for minute in range(5):
        now[0] += 60
        _sign_in(actions, f"late-guess-{minute}", f"203.0.113.{minute}")
        opened, said = _sign_in(actions, TOKEN, MAINTAINER)
        assert opened, said


def test_while_many_guesses_come_in_every_guessing_address_backs_off_at_once(tmp_path: Path) -> None:
    actions, _now = _panel(tmp_path)
    for n in range(TokenGuard.GLOBAL_FREE):
        actions.guard.failed(f"198.51.{n}.1")
    # A fresh address's first wrong guess already costs it a wait: the global limit slows guessing.
    _sign_in(actions, "one-more-guess", "203.0.113.77")
    opened, said = _sign_in(actions, "and-another", "203.0.113.77")
    assert not opened and "Too many wrong admin tokens" in said
    # An address that never guessed is compared as usual.
    assert actions.guard.refusal(MAINTAINER) is None
    assert _sign_in(actions, TOKEN, MAINTAINER)[0]
