"""The attack suite (issue 10): a launched Space on loopback, hit as an attacker would.

Every test is bounded: small payloads over the limits, a handful of requests, timeouts.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.space.conftest import Served, serve_demo


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_demo(tmp_path_factory, "attack") as app:
        yield app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"))
            item.add_marker(pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"))
