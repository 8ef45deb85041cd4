"""Deployment settings for submissions and the queue, read from the environment.

CRISIS_MAINTAINERS       comma-separated Hugging Face user names (exempt from the rate limit)
CRISIS_ADMIN_TOKEN       the secret a CLI caller passes as --admin-token to act as a maintainer
CRISIS_RATE_LIMIT        submissions per user per window (default 5)
CRISIS_RATE_WINDOW_DAYS  the window in days (default 7)
CRISIS_MAX_PARAMS        largest accepted model, e.g. 70e9 or 70B (default 100B)
CRISIS_MAX_ATTEMPTS      claims before a request whose worker keeps dying is FAILED (default 3)
CRISIS_LEASE_S           seconds a claim lasts without a heartbeat (default 600)
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final, TypeVar

from submissions.errors import NotAllowed, SubmissionError

DEFAULT_MAX_PARAMS: Final = 100_000_000_000
_SUFFIXES: Final = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


class ConfigError(SubmissionError):
    """An environment variable with a value we cannot use."""


@dataclass(frozen=True)
class Settings:
    maintainers: frozenset[str] = field(default_factory=frozenset)
    rate_limit: int = 5
    rate_window: timedelta = timedelta(days=7)
    max_params: int = DEFAULT_MAX_PARAMS
    max_attempts: int = 3
    lease_s: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        names = env.get("CRISIS_MAINTAINERS", "")
        return cls(
            maintainers=frozenset(n.strip().casefold() for n in names.split(",") if n.strip()),
            rate_limit=_int(env, "CRISIS_RATE_LIMIT", 5, minimum=0),
            rate_window=timedelta(days=_float(env, "CRISIS_RATE_WINDOW_DAYS", 7.0)),
            max_params=parse_count(env.get("CRISIS_MAX_PARAMS"), DEFAULT_MAX_PARAMS, "CRISIS_MAX_PARAMS"),
            max_attempts=_int(env, "CRISIS_MAX_ATTEMPTS", 3, minimum=1),
            lease_s=_float(env, "CRISIS_LEASE_S", 600.0),
        )

    def is_maintainer(self, user: str | None) -> bool:
        return user is not None and user.casefold() in self.maintainers


def admin_token_matches(given: str | None, env: Mapping[str, str] | None = None) -> bool:
    """True when `given` equals $CRISIS_ADMIN_TOKEN; an unset or empty token admits nobody."""
    expected = (os.environ if env is None else env).get("CRISIS_ADMIN_TOKEN", "")
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


ARGV_TOKEN_REFUSED: Final = (
    "--admin-token is refused: a command-line token shows in `ps`; "
    "set $CRISIS_ADMIN_TOKEN or pass --admin-token-file FILE"
)


def given_admin_token(token_file: str | None) -> str | None:
    """The token a maintainer CLI call presents: from --admin-token-file, else $CRISIS_ADMIN_TOKEN.

    Never from argv, which every user of the machine can read (ps, /proc). OSError if the file
    cannot be read.
    """
    if token_file:
        return Path(token_file).read_text(encoding="utf-8").strip()
    return os.environ.get("CRISIS_ADMIN_TOKEN")


def check_admin_token(argv_token: str | None, token_file: str | None, needs: str) -> None:
    """Refuse, with one line, a maintainer CLI call without the admin token: one given in argv
    (`argv_token`, refused whatever it is), a --admin-token-file that cannot be read, or a token
    that does not match. `needs` opens the last message ("--maintainer needs the admin token")."""
    if argv_token is not None:
        raise NotAllowed(ARGV_TOKEN_REFUSED)
    try:
        given = given_admin_token(token_file)
    except OSError as exc:
        raise NotAllowed(f"cannot read --admin-token-file: {exc.strerror or exc}") from None
    if not admin_token_matches(given):
        raise NotAllowed(f"{needs}: $CRISIS_ADMIN_TOKEN, or --admin-token-file FILE")


def parse_count(text: str | None, default: int, name: str) -> int:
    if text is None or not text.strip():
        return default
    raw = text.strip().upper()
    scale = _SUFFIXES.get(raw[-1], 1.0)
    number = raw[:-1] if raw[-1] in _SUFFIXES else raw
    try:
        value = float(number) * scale
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a count (examples: 7000000000, 7e9, 7B)") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return int(value)


_N = TypeVar("_N", int, float)


def _number(env: Mapping[str, str], name: str, parse: Callable[[str], _N], what: str) -> _N | None:
    """The variable's value, or None when it is unset or blank."""
    text = env.get(name)
    if text is None or not text.strip():
        return None
    try:
        return parse(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not {what}") from None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    value = _number(env, name, int, "a whole number")
    if value is None:
        return default
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, float, "a number")
    if value is None:
        return default
    if not value > 0:
        raise ConfigError(f"{name} must be positive")
    return value
