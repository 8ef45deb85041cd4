"""Fixtures shared across the test tree; helpers themselves live in tests/support."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh local OpenAI-compatible server (responder `echo`, no latency, no faults).

    Tests reconfigure it in place: `server.responder = ...`, `server.latency_s = ...`,
    `server.fail(...)`.
    """
    with OpenAIServer() as server:
        yield server
