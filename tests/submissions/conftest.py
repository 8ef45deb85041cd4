from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evaluator.storage import DataDir
from submissions.config import Settings
from submissions.queue import Queue
from submissions.store import LocalRequestStore
from submissions.target import SetRef
from submissions.validation import Validator
from tests.support.hub import ScriptedHub

TARGET = SetRef("heldout", "v1")
KNOWN_TYPES = frozenset({"llama", "mistral", "qwen2"})


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "var")


@pytest.fixture
def queue(data: DataDir, clock: FakeClock) -> Queue:
    return Queue(LocalRequestStore(data), lease_s=60, max_attempts=3, clock=clock)


@pytest.fixture
def hub() -> ScriptedHub:
    return ScriptedHub(ScriptedHub.good())


def make_validator(hub: ScriptedHub, clock: FakeClock, **settings: object) -> Validator:
    return Validator(
        hub,
        target=TARGET,
        settings=Settings(maintainers=frozenset({"boss"}), **settings),  # type: ignore[arg-type]
        known_model_types=lambda: KNOWN_TYPES,
        clock=clock,
    )


@pytest.fixture
def validator(hub: ScriptedHub, clock: FakeClock) -> Validator:
    return make_validator(hub, clock)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file and directory under root, with contents: 'nothing written' means equal snapshots."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>") for p in root.rglob("*")}
