"""`make run`'s demo board shows the four demo models in conversations too, on a board of its own."""

from __future__ import annotations

from pathlib import Path

from evaluator.backends.demo import DEMO_SPECS
from evaluator.storage import DataDir
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore


def test_seed_demo_adds_a_conversation_board_of_the_demo_models(tmp_path: Path) -> None:
    from app import seed_demo  # the repository root is on sys.path

    data = DataDir.at(tmp_path / "var")
    assert seed_demo(data) == len(DEMO_SPECS)
    board = Leaderboard(ResultStore(data))
    opened = board.query(Filters())
    assert opened.board is not None and opened.board.track == "single_turn"  # single replies stay the headline
    talk = next(b for b in opened.boards if b.track == "conversation")
    assert talk.demo and talk.simulator == "script@1" and talk.set_name == "public-personas"
    rows = board.query(Filters(board=talk.key)).rows.set_index("model")
    assert set(rows.index) == set(DEMO_SPECS)
    assert rows["rank_best"].notna().all()
    harm = {str(m): float(v) for m, v in rows["harm_rate"].items()}
    assert harm["demo:dismissive"] > harm["demo:attentive"]
    assert len(list((data.public / "conversations").glob("*.jsonl"))) == len(DEMO_SPECS)
