"""The leaderboard tab's small print: the empty-result hint, last updated, model counts and the
changelog of set and protocol versions (issue 23 point 6)."""

from __future__ import annotations

from evaluator.protocol.taxonomy import PROTOCOL_VERSION
from evaluator.storage import DataDir
from leaderboard.links import markdown_text
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from space.formatting import (
    BASELINE_ROW_STYLE,
    PROTOCOL_CHANGES,
    baseline_note,
    plot_choices,
    plot_defaults,
    query_table,
    status_markdown,
    versions_markdown,
)
from tests.support.results_factory import write_demo_board


def _board(tmp_path: object) -> Leaderboard:
    data = DataDir.at(str(tmp_path))
    write_demo_board(data)
    return Leaderboard(ResultStore(data))


def test_an_empty_filter_result_says_how_to_reset(tmp_path: object) -> None:
    board = _board(tmp_path)
    empty = status_markdown(board.query(Filters(search="no-such-model-anywhere")))
    assert "No model matches these filters" in empty
    assert "empty the search box" in empty and "reload the page" in empty
    assert "No model matches" not in status_markdown(board.query(Filters()))


def test_status_says_when_the_board_was_last_updated_and_how_many_models_it_has(tmp_path: object) -> None:
    board = _board(tmp_path)
    result = board.query(Filters())
    assert result.board is not None and result.board.last_evaluated is not None
    status = status_markdown(result)
    assert f"Last updated {result.board.last_evaluated:%Y-%m-%d %H:%M} UTC" in status
    assert f"{result.board.ranked_models} models besides the baselines" in status


def test_the_changelog_lists_every_set_version_and_protocol_version(tmp_path: object) -> None:
    board = _board(tmp_path)
    boards = board.boards()
    text = versions_markdown(boards)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Set")]
    assert len(rows) == len(boards) >= 3
    for b in boards:
        version, judge = markdown_text(b.set_version), markdown_text(b.judge)
        assert any(f"| {version} |" in row and f"| {judge} |" in row for row in rows)
    dates = [row.split("|")[6].strip().replace("\\", "") for row in rows]
    assert dates == sorted(dates, reverse=True)  # newest first
    assert PROTOCOL_CHANGES[0][0] == PROTOCOL_VERSION
    assert f"**Protocol {PROTOCOL_VERSION}**" in text
    assert versions_markdown([]).startswith("No results yet.")


def test_the_table_puts_baselines_below_the_ranked_rows_and_greys_them(tmp_path: object) -> None:
    board = _board(tmp_path)
    value = query_table(board, board.query(Filters()))
    models = [row[1] for row in value["data"]]
    baseline = [m.startswith("baseline:") for m in models]
    assert any(baseline) and baseline == sorted(baseline)  # every baseline after every model
    styling = value["metadata"]["styling"]
    assert [row[0] == BASELINE_ROW_STYLE for row in styling] == baseline
    assert all(len(row) == len(value["headers"]) for row in styling)
    # Sorted by another column, the rows stay where that column puts them.
    by_model = query_table(board, board.query(Filters(sort_by="model")))
    assert [row[1] for row in by_model["data"]] == sorted(models, key=str.lower)
    note = baseline_note(board.query(Filters()))
    assert "baseline:refusal" in note and "adversarial items count only towards" in note


def test_the_default_category_plot_spreads_over_the_ranking(tmp_path: object) -> None:
    board = _board(tmp_path)
    shown = board.query(Filters()).shown
    real = [m for m in plot_choices(shown) if not m.startswith("baseline:")]
    chosen = plot_defaults(shown)
    assert chosen == [real[0], real[round((len(real) - 1) / 2)], real[-1]]
    assert plot_defaults(shown.iloc[:0]) == []
