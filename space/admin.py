"""Who is a maintainer: organisation membership on a Space, the local admin token elsewhere.

Who is a maintainer is decided on the server, on every call: the page only hides the tab,
and hiding is not a defence, since anyone can post to Gradio's queue with any event index.
So each handler of the panel (space.admin_panel) takes the caller's credential and checks it
here before doing anything:

- on a Hugging Face Space, membership of the organisation in CRISIS_ADMIN_ORG, read from
  the OAuth session Gradio injects (which a caller cannot forge);
- locally, the admin token (CRISIS_ADMIN_TOKEN) typed into a password box, compared in
  constant time against the environment at every call, so rotating it locks out every page.

Wrong tokens are counted and slowed per client address (TokenGuard).

No `from __future__ import annotations` here: Gradio reads the OAuth parameters' types at
run time to know it should inject the signed-in user.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import gradio as gr

from evaluator.audit import log_admin_action
from evaluator.storage import DataDir
from submissions.config import admin_token_matches
from submissions.records import one_line

ORG_ENV: Final = "CRISIS_ADMIN_ORG"
TOKEN_ENV: Final = "CRISIS_ADMIN_TOKEN"
MEMBERSHIP_TTL_S: Final = 60.0

log = logging.getLogger(__name__)


# (organisation, signed-in profile, OAuth token) -> is the user a member?
MembershipCheck = Callable[[str, gr.OAuthProfile | None, gr.OAuthToken | None], bool]


def _org_names(orgs: Any, handle: str) -> set[str]:
    """The organisations' handles, from the field that holds the handle in this source.

    In the OAuth profile's `orgs` claim the handle is `preferred_username` and `name` is the
    display name, free text any organisation can set to another's handle; in the Hub's
    whoami answer the handle is `name` (the display name is `fullname`).
    """
    names: set[str] = set()
    for org in orgs if isinstance(orgs, list) else []:
        if isinstance(org, dict) and isinstance(org.get(handle), str):
            names.add(org[handle].casefold())
    return names


class HubMembership:
    """Membership as the Hub states it now, for a user's own OAuth token; cached briefly so
    a busy maintainer does not cost a Hub call per click, and short enough that removal from
    the organisation takes effect within a minute.

    Without a token (a session from before the Space asked for one) the `orgs` claim of the
    sign-in profile is used: correct as of the sign-in. Any failure means "not a member".
    """

    def __init__(self, ttl_s: float = MEMBERSHIP_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def __call__(self, org: str, profile: gr.OAuthProfile | None, token: gr.OAuthToken | None) -> bool:
        if profile is None:
            return False
        if token is None or not token.token:
            return org.casefold() in _org_names(profile.get("orgs"), "preferred_username")
        key = (token.token, org.casefold())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        try:
            from huggingface_hub import whoami

            member = org.casefold() in _org_names(whoami(token=token.token).get("orgs"), "name")
        except Exception:  # the Hub out of reach or the token revoked: fail closed
            log.warning("could not check organisation membership on the Hub", exc_info=True)
            return False
        with self._lock:
            self._cache[key] = (now, member)
        return member


@dataclass(frozen=True)
class Maintainer:
    who: str  # as the admin log records it
    via: str  # how they were recognised, for the panel's header


@dataclass
class AdminAccess:
    """Who may use the panel. `on_space`: organisation membership is the only way in;
    otherwise the local admin token is. `env` is read at every check (None: os.environ)."""

    on_space: bool = False
    org: str | None = None
    membership: MembershipCheck = field(default_factory=HubMembership)
    env: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, *, on_space: bool, membership: MembershipCheck | None = None) -> "AdminAccess":
        org = (os.environ.get(ORG_ENV) or "").strip() or None
        return cls(on_space=on_space, org=org, membership=membership or HubMembership())

    @property
    def token_configured(self) -> bool:
        return bool((os.environ if self.env is None else self.env).get(TOKEN_ENV))

    @property
    def uses_token(self) -> bool:
        """Whether the page offers the token box (a Space signs maintainers in through the Hub)."""
        return not self.on_space

    def check(
        self,
        secret: str | None,
        name: str | None,
        profile: gr.OAuthProfile | None,
        token: gr.OAuthToken | None,
    ) -> Maintainer | None:
        if self.on_space:
            if not self.org or profile is None:
                return None
            try:
                member = self.membership(self.org, profile, token)
            except Exception:  # an injected or Hub checker that breaks must not let anyone in
                log.warning("membership check failed", exc_info=True)
                return None
            username = str(getattr(profile, "username", "") or profile.get("preferred_username") or "")
            if not member or not username:
                return None
            return Maintainer(f"hf:{username}", f"member of {self.org}")
        if not isinstance(secret, str) or not admin_token_matches(secret, self.env):
            return None
        shown = one_line(name or "", 60) or "local"
        return Maintainer(f"{shown} (admin token)", "the local admin token")


class TokenGuard:
    """Failed admin-token attempts cost time, always per client address, with backoff.

    After CLIENT_FREE failures inside WINDOW_S a client waits 1, 2, 4 ... seconds (capped)
    after each further failure before its next attempt is even compared. While GLOBAL_FREE
    failures from everyone are inside the window, the free allowance is gone: every guessing
    address backs off from its first failure, so many addresses gain little. Nothing ever
    locks out an address that is not guessing: a global lock would let anyone keep the real
    token out with a guess a minute. Each failure is written to the admin log, without the guess."""

    CLIENT_FREE: Final = 10
    GLOBAL_FREE: Final = 50
    WINDOW_S: Final = 600.0
    MAX_WAIT_S: Final = 900.0

    def __init__(self, data: DataDir, clock: Callable[[], float] = time.monotonic) -> None:
        self.data = data
        self.clock = clock
        self.failed_total = 0
        self._lock = threading.Lock()
        self._client: dict[str, list[float]] = {}
        self._everyone: list[float] = []
        self._blocked_until: dict[str, float] = {}

    def refusal(self, client: str) -> str | None:
        """Why this client may not try now (None: it may)."""
        now = self.clock()
        with self._lock:
            wait = self._blocked_until.get(client, 0.0) - now
        if wait > 0:
            return f"❌ Too many wrong admin tokens: try again in {int(wait) + 1} s."
        return None

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            self.failed_total += 1
            since = now - self.WINDOW_S
            mine = [t for t in self._client.get(client, []) if t > since] + [now]
            self._client[client] = mine
            self._everyone = [t for t in self._everyone if t > since] + [now]
            free = 0 if len(self._everyone) >= self.GLOBAL_FREE else self.CLIENT_FREE
            extra = len(mine) - free
            if extra > 0:
                self._blocked_until[client] = now + min(self.MAX_WAIT_S, 2.0 ** (extra - 1))
            if len(self._client) > 10_000:  # bounded memory: forget clients with nothing recent
                self._client = {k: v for k, v in self._client.items() if v and v[-1] > since}
                self._blocked_until = {k: t for k, t in self._blocked_until.items() if t > now}
            if len(self._everyone) > 10 * self.GLOBAL_FREE:
                self._everyone = self._everyone[-self.GLOBAL_FREE :]
            count, total = len(mine), self.failed_total
        log.warning("a wrong admin token was tried (%d from this client in %d s)", count, int(self.WINDOW_S))
        # On this machine only: a guess must not buy a commit to the private repo.
        log_admin_action(
            self.data,
            None,
            "admin_token_failed",
            {"client": client, "recent_from_client": count, "total": total},
            commit=False,
        )


def client_of(request: gr.Request | None) -> str:
    """The caller's address as the server saw it (no header a client can set)."""
    host = getattr(getattr(request, "client", None), "host", None)
    return one_line(str(host or "unknown"), 64)


__all__ = [
    "ORG_ENV",
    "TOKEN_ENV",
    "AdminAccess",
    "HubMembership",
    "Maintainer",
    "MembershipCheck",
    "TokenGuard",
    "client_of",
]
