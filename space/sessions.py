"""Gradio's per-session state, built on demand (issue 11).

Gradio keeps one `SessionState` per session hash, and a new one renders the config of every
block of the page (about 140 here, the initial tables and plots included): tens of
milliseconds of CPU and a few hundred KiB per session. Every gradio_client or `curl` call of
`/leaderboard` is a new session, so on a public Space that cost was paid per call and kept
until the session capacity pushed it out.

`LeanStateHolder` hands out `LeanSessionState`s instead, which render a block's config only
when something asks for it (a component update returned by an event, or Gradio's deep-link
route). A stateless call, one that returns a plain value to a non-stateful output such as
the leaderboard table, then keeps nothing but the session's shallow copy of the block map.
Values returned to non-stateful outputs are not written into the session's rendered config:
that copy exists only for Gradio's deep links, which this page does not offer, and every
browser receives the values in the event's own response.

Swapped in on a launched app by `install`; `tests/space/test_sessions.py` checks that a lean
session carries every attribute a Gradio session has, so a Gradio upgrade that adds one fails
a test instead of a request.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from copy import copy
from typing import Any

from gradio.state_holder import SessionState, StateHolder


class LeanSessionState(SessionState):
    def __init__(self, blocks: Any) -> None:  # no super().__init__: it renders every block
        self._blocks = blocks
        self.blocks_config = copy(blocks.default_config)
        self.config_values: dict[int, Any] = {}
        self.state_data: dict[int, Any] = {}
        self._state_ttl: dict[int, Any] = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600

    def __setitem__(self, key: int, value: Any) -> None:
        from gradio.components import State

        block = self.blocks_config.blocks.get(key)
        if isinstance(block, State):
            self._state_ttl[key] = (block.time_to_live, datetime.datetime.now())
            self.state_data[key] = value
        else:
            self.blocks_config.blocks[key] = value
        # A rendered config is now stale: render it again when asked (deep links).
        self.config_values.pop(key, None)

    def _update_config(self, key: int) -> None:
        self.config_values.pop(key, None)

    def _update_value_in_config(self, key: int, value: Any) -> None:
        config = self.config_values.get(key)
        if config is not None and "props" in config:
            config["props"]["value"] = value

    @property
    def components(self) -> Iterator[dict[str, Any]]:
        for key, block in self.blocks_config.blocks.items():
            if key not in self._blocks.blocks:
                continue
            if key not in self.config_values:
                self.config_values[key] = self.blocks_config.config_for_block(key, [], block)
            config = self.config_values[key]
            if config:
                yield config


class LeanStateHolder(StateHolder):
    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = LeanSessionState(self.blocks)
        self.update(session_id)
        self.time_last_used[session_id] = datetime.datetime.now()
        return self.session_data[session_id]


def install(blocks: Any) -> None:
    """Give a launched app lean sessions, keeping the capacity it was launched with and any
    session already open."""
    app = getattr(blocks, "app", None)
    old = getattr(app, "state_holder", None)
    if app is None or old is None or isinstance(old, LeanStateHolder):
        return
    holder = LeanStateHolder()
    holder.set_blocks(blocks)
    holder.capacity = old.capacity
    with old.lock:
        holder.session_data.update(old.session_data)
        holder.time_last_used.update(old.time_last_used)
    app.state_holder = holder


__all__ = ["LeanSessionState", "LeanStateHolder", "install"]
