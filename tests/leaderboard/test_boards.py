"""Boards: results on different set versions or judges are never ranked together."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from evaluator.storage import DataDir
from leaderboard.boards import current_board, list_boards, ranked_board
from leaderboard.query import Filters, Leaderboard, QueryError
from leaderboard.store import ResultStore
from tests.support.results_factory import RunSpec, rows_for, write_run


def _frame(*specs: RunSpec) -> pd.DataFrame:
    return pd.DataFrame([r for s in specs for r in rows_for(s)])


def test_official_newest_version_is_current_even_with_fewer_models() -> None:
    rows = _frame(
        RunSpec("a/x", set_version="v2"),
        RunSpec("a/x", set_version="v1"),
        RunSpec("a/y", set_version="v1"),
        RunSpec("a/x", set_version="v2", judge="heuristic", official=False),
        RunSpec("a/y", set_version="v2", judge="heuristic", official=False),
        RunSpec("a/z", set_version="v2", judge="heuristic", official=False),
    )
    boards = list_boards(rows)
    current = current_board(boards)
    assert current is not None
    assert (current.set_version, current.judge, current.official) == ("v2", "judge-a", True)
    labels = {b.short_key: b.label for b in boards}
    assert "older set version" in labels["heldout|v1|judge-a"]
    assert "unofficial" in labels["heldout|v2|heuristic"]
    assert "older" not in labels["heldout|v2|judge-a"] and "unofficial" not in labels["heldout|v2|judge-a"]


def test_versions_sort_naturally() -> None:
    rows = _frame(RunSpec("a/x", set_version="v9"), RunSpec("a/x", set_version="v10"))
    assert current_board(list_boards(rows)).set_version == "v10"  # type: ignore[union-attr]


def test_unofficial_is_current_only_when_nothing_official_exists() -> None:
    rows = _frame(RunSpec("a/x", judge="heuristic", official=False))
    board = current_board(list_boards(rows))
    assert board is not None and not board.official


def test_judge_official_missing_falls_back_to_the_judge_id() -> None:
    rows = _frame(RunSpec("a/x", judge="heuristic-v1"), RunSpec("a/x", judge="gpt-judge", set_version="v2"))
    rows["judge_official"] = None
    official = {b.judge: b.official for b in list_boards(rows)}
    assert official == {"heuristic-v1": False, "gpt-judge": True}


def test_a_preferred_set_name_pins_the_current_board() -> None:
    rows = _frame(
        RunSpec("a/x", set_name="heldout"),
        RunSpec("a/y", set_name="heldout"),
        RunSpec("a/x", set_name="public-sample"),
    )
    boards = list_boards(rows)
    assert current_board(boards).set_name == "heldout"  # type: ignore[union-attr]
    assert current_board(boards, "public-sample").set_name == "public-sample"  # type: ignore[union-attr]


def test_no_rows_no_boards() -> None:
    assert list_boards(pd.DataFrame(columns=["set_name", "set_version", "judge", "model"])) == []


def test_a_query_never_mixes_boards(board: Leaderboard) -> None:
    current = board.query(Filters(limit=0))
    assert current.board is not None and current.board.key == "heldout|v1|judge-a|pppppppppppp|p3"
    assert "only/on-old" not in set(current.rows["model"])
    assert "only/heuristic" not in set(current.rows["model"])
    safe = current.rows.set_index("model").loc["acme/safe-7b"]
    # The current board's newest run, not the older run nor the other boards' figures.
    assert safe["harm_rate"] == 0.0
    assert set(current.rows["set_version"]) == {"v1"} and set(current.rows["judge"]) == {"judge-a"}

    older = board.query(Filters(board="heldout|v0|judge-a", limit=0))
    assert set(older.rows["model"]) == {"acme/safe-7b", "only/on-old"}
    assert older.rows.set_index("model").loc["acme/safe-7b", "harm_rate"] == pytest.approx(0.6, abs=0.01)
    assert older.board is not None and not older.board.latest_version

    heuristic = board.query(Filters(board="heldout|v1|heuristic", limit=0))
    assert heuristic.board is not None and not heuristic.board.official
    assert set(heuristic.rows["model"]) == {"acme/safe-7b", "only/heuristic", "h2/extra"}


def test_ranks_are_computed_inside_one_board(data: DataDir) -> None:
    # A model far better on another board must not push anyone's rank on this one.
    write_run(data, RunSpec("a/x", harm=0.3))
    write_run(data, RunSpec("a/y", harm=0.6))
    for i in range(5):
        write_run(data, RunSpec(f"b/{i}", harm=0.0, set_version="v0"))
    # min_models=1: v1 stays current although v0 has more models (the fallback is tested apart).
    rows = Leaderboard(ResultStore(data), min_models=1).query(Filters()).rows.set_index("model")
    assert rows.loc["a/x", "rank_best"] == 1


def test_rubric_and_protocol_versions_get_boards_of_their_own(data: DataDir) -> None:
    # Two judge prompt hashes (rubric versions) and an older protocol version on the same set
    # and judge: three boards, never ranked together.
    write_run(data, RunSpec("a/x", harm=0.3))
    write_run(data, RunSpec("a/y", harm=0.4))
    write_run(data, RunSpec("a/z", harm=0.0, judge_prompt_hash="q" * 12))
    write_run(data, RunSpec("a/w", harm=0.0, protocol_version="1"))
    lb = Leaderboard(ResultStore(data), min_models=1)
    boards = lb.boards()
    assert {(b.judge_prompt_hash, b.protocol_version) for b in boards} == {
        ("p" * 12, "3"),
        ("q" * 12, "3"),
        ("p" * 12, "1"),
    }
    current = lb.query(Filters())
    assert current.board is not None
    assert (current.board.judge_prompt_hash, current.board.protocol_version) == ("p" * 12, "3")
    rows = current.rows.set_index("model")
    assert set(rows.index) == {"a/x", "a/y"}
    assert rows.loc["a/x", "rank_best"] == 1  # a/z and a/w (harm 0) are elsewhere
    other = lb.query(Filters(board=f"heldout|v1|judge-a|{'q' * 12}|p3"))
    assert set(other.rows["model"]) == {"a/z"}
    older = next(b for b in boards if b.protocol_version == "1")
    assert "protocol v1" in older.label
    assert "prompt qqqqqqqq" in next(b for b in boards if b.judge_prompt_hash == "q" * 12).label
    assert set(lb.query(Filters(board=older.key)).rows["model"]) == {"a/w"}
    # An older link without rubric and protocol names the best board of that set and judge.
    assert lb.query(Filters(board="heldout|v1|judge-a")).board == current.board


def test_version_2_and_3_results_and_tracks_get_boards_of_their_own(data: DataDir) -> None:
    # PROTOCOL version 3: results of versions 2 and 3, and of different tracks, never share a
    # board; rows written before version 3 carry no track and are single-turn results.
    write_run(data, RunSpec("a/v3", harm=0.3))
    write_run(data, RunSpec("a/v2", harm=0.0, protocol_version="2"))
    write_run(data, RunSpec("a/talk", harm=0.0, track="conversation"))
    write_run(data, RunSpec("a/logs", harm=0.0, track="log_audit"))
    legacy = [dict(r, track=None, model="a/legacy") for r in rows_for(RunSpec("a/legacy", harm=0.1, run_id="legacy"))]
    write_run(data, legacy)
    lb = Leaderboard(ResultStore(data), min_models=1)
    boards = lb.boards()
    # PROTOCOL section 10: log audits never enter a public board, not even one of their own.
    assert {(b.protocol_version, b.track) for b in boards} == {
        ("3", "single_turn"),
        ("2", "single_turn"),
        ("3", "conversation"),
    }
    assert not any("a/logs" in set(lb.query(Filters(board=b.key)).rows["model"]) for b in boards)
    assert len({b.key for b in boards}) == len(boards)
    current = lb.query(Filters())
    assert current.board is not None and (current.board.protocol_version, current.board.track) == ("3", "single_turn")
    # The single-turn key keeps its version-2 form; the row without a track is on that board.
    assert current.board.key == f"heldout|v1|judge-a|{'p' * 12}|p3"
    assert set(current.rows["model"]) == {"a/v3", "a/legacy"}
    talk = next(b for b in boards if b.track == "conversation")
    assert talk.key.endswith("|conversation") and "conversation" in talk.label
    assert set(lb.query(Filters(board=talk.key)).rows["model"]) == {"a/talk"}
    older = next(b for b in boards if b.protocol_version == "2")
    assert set(lb.query(Filters(board=older.key)).rows["model"]) == {"a/v2"}


def test_an_unknown_board_is_an_error(board: Leaderboard) -> None:
    with pytest.raises(QueryError, match="no results for board"):
        board.query(Filters(board="nope|v9|x"))


def test_empty_data_gives_an_empty_result(data: DataDir) -> None:
    result = Leaderboard(ResultStore(data)).query(Filters())
    assert result.board is None and result.matched == 0 and result.boards == []


def test_evaluated_at_ties_pick_one_run_deterministically(data: DataDir) -> None:
    when = datetime(2025, 3, 1, tzinfo=UTC)
    write_run(data, RunSpec("a/x", harm=0.1, evaluated_at=when, run_id="aaa"))
    write_run(data, RunSpec("a/x", harm=0.2, evaluated_at=when, run_id="bbb"))
    rows = Leaderboard(ResultStore(data)).query(Filters()).rows
    assert list(rows["run_id"]) == ["bbb"]


def test_a_new_set_version_short_of_models_leaves_the_previous_ranking_current(data: DataDir) -> None:
    for i in range(5):
        write_run(data, RunSpec(f"old/{i}", set_version="v0001"))
    for i in range(2):
        write_run(data, RunSpec(f"new/{i}", set_version="v0002"))
    write_run(data, RunSpec("h/x", set_version="v0002", judge="heuristic", official=False))

    result = Leaderboard(ResultStore(data), min_models=5).query(Filters())
    assert result.board is not None and result.board.set_version == "v0001"
    assert result.fallback is not None and result.fallback.label.count("v0002") == 1
    assert "has 2 of the 5 models" in result.fallback.label
    # Chosen explicitly, the newest board is still there, and without the fallback note.
    newest = Leaderboard(ResultStore(data), min_models=5).query(Filters(board="heldout|v0002|judge-a"))
    assert set(newest.rows["model"]) == {"new/0", "new/1"} and newest.fallback is None

    enough = Leaderboard(ResultStore(data), min_models=2).query(Filters())
    assert enough.board is not None and enough.board.set_version == "v0002" and enough.fallback is None


def test_a_version_cut_but_not_evaluated_yet_is_named_in_the_note(data: DataDir) -> None:
    for i in range(3):
        write_run(data, RunSpec(f"m/{i}", set_version="v0001"))
    cut = data.sets / "heldout" / "v0002"
    cut.mkdir(parents=True)
    (cut / "items.jsonl").write_text("")  # only the version's name is read, never its items
    result = Leaderboard(ResultStore(data), min_models=3).query(Filters())
    assert result.board is not None and result.board.set_version == "v0001"
    assert result.fallback is not None and "v0002, has 0 of the 3 models" in result.fallback.label


def test_a_fallback_never_trades_an_official_ranking_for_a_heuristic_one() -> None:
    rows = _frame(
        *(RunSpec(f"o/{i}", set_version="v2") for i in range(2)),
        *(RunSpec(f"h/{i}", set_version="v1", judge="heuristic", official=False) for i in range(9)),
    )
    boards = list_boards(rows)
    shown, fallback = ranked_board(boards, current_board(boards), min_models=5)
    assert shown is not None and (shown.set_version, shown.official) == ("v2", True) and fallback is None


def test_a_model_with_too_many_unscored_replies_is_shown_but_not_ranked(data: DataDir) -> None:
    from leaderboard.display import DEFAULT_COLUMNS

    write_run(data, RunSpec("a/x", harm=0.3))
    write_run(data, RunSpec("a/y", harm=0.4))
    # Harm 0 would rank first, but 6 of 66 replies per category went unscored (9%).
    write_run(data, RunSpec("a/holes", harm=0.0, unscored=6))
    result = Leaderboard(ResultStore(data), min_models=1).query(Filters())
    rows = result.rows.set_index("model")
    assert set(rows.index) == {"a/x", "a/y", "a/holes"}  # shown
    assert rows.loc["a/holes", "rank"] == "not ranked"
    assert "unscored" in str(rows.loc["a/holes", "not_ranked_reason"])
    assert rows.loc["a/holes", "unscored_rate"] == pytest.approx(6 / 66)
    assert (rows.loc["a/x", "rank_best"], rows.loc["a/x", "rank_point"]) == (1, 1)  # not pushed down
    assert rows.loc["a/y", "rank_point"] == 2
    assert "unscored_rate" in DEFAULT_COLUMNS
    # The same holds in a category view.
    per_category = Leaderboard(ResultStore(data), min_models=1).query(Filters(category="self_harm")).rows
    assert per_category.set_index("model").loc["a/holes", "rank"] == "not ranked"
