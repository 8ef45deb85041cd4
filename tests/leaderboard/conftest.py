"""The view tests run on the factory's demo board (see write_demo_board)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.storage import DataDir
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from tests.support.results_factory import HOSTILE_NAME, write_demo_board

HOSTILE = HOSTILE_NAME


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir.at(tmp_path / "var")


@pytest.fixture
def board_data(data: DataDir) -> DataDir:
    write_demo_board(data)
    return data


@pytest.fixture
def board(board_data: DataDir) -> Leaderboard:
    return Leaderboard(ResultStore(board_data))
