"""Hidden models leave every board and the downloads, and come back when unhidden."""

from __future__ import annotations

import json

import pytest

from evaluator.storage import DataDir
from leaderboard.hidden import HiddenError, hidden_path, hide_model, read_hidden, unhide_model
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore


def test_a_hidden_model_disappears_and_comes_back(board_data: DataDir) -> None:
    board = Leaderboard(ResultStore(board_data))
    assert "other/risky-1b" in set(board.query(Filters()).rows["model"])

    entry = hide_model(board_data, "other/risky-1b", "licence\nwithdrawn\u202e by the author")
    assert entry.reason == "licence withdrawn by the author"  # one line, no bidi override
    rows = board.query(Filters(limit=0)).rows
    assert "other/risky-1b" not in set(rows["model"]) and len(rows) == 5
    assert "other/risky-1b" not in set(board.snapshot().results["model"])  # the Parquet download too
    assert set(board.snapshot().hidden) == {"other/risky-1b"}
    assert ResultStore(board_data).results()["model"].eq("other/risky-1b").any()  # files untouched

    stored = json.loads(hidden_path(board_data).read_text())
    assert stored["models"][0]["model"] == "other/risky-1b" and "who" not in stored["models"][0]

    unhide_model(board_data, "other/risky-1b")
    assert "other/risky-1b" in set(board.query(Filters()).rows["model"])
    assert read_hidden(board_data) == {}


def test_hiding_needs_a_name_and_a_reason(data: DataDir) -> None:
    with pytest.raises(HiddenError, match="public reason"):
        hide_model(data, "a/b", "   ")
    with pytest.raises(HiddenError, match="name the model"):
        hide_model(data, "", "because")
    with pytest.raises(HiddenError, match="not hidden"):
        unhide_model(data, "a/b")


def test_a_damaged_file_hides_nothing_and_is_reported(board_data: DataDir) -> None:
    hidden_path(board_data).parent.mkdir(parents=True, exist_ok=True)
    hidden_path(board_data).write_text("{not json")
    snap = ResultStore(board_data).snapshot()
    assert "other/risky-1b" in set(snap.results["model"])
    assert any("hidden.json" in p for p in snap.problems)
