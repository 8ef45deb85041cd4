"""The attack suite (issue 10): a launched Space on loopback, hit as an attacker would.

Every test is bounded: small payloads over the limits, a handful of requests, timeouts.
The Space is its own (tests/space/conftest.py builds it), so what these tests provoke, such
as failed admin-token guesses, never reaches the page tests.
"""

from __future__ import annotations

from pathlib import Path

from tests.space.conftest import quiet_gradio_warnings, served_fixture

served = served_fixture("attack")
pytest_collection_modifyitems = quiet_gradio_warnings(Path(__file__).parent)
