"""Which set version the leaderboard ranks on (leaderboard.versions): the one rule that
`ranked_board` applies to boards and `current_ranked_version` to a data folder's results."""

from __future__ import annotations

import json
from pathlib import Path

from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.sets import add_items, cut_version
from evaluator.storage import DataDir, atomic_write_json
from leaderboard.boards import current_board, list_boards, ranked_board
from leaderboard.store import ResultStore
from leaderboard.versions import choose_ranked_version, current_ranked_version
from tests.support.results_factory import RunSpec, write_run


def _freeze_held(data: DataDir, tmp_path: Path) -> None:
    """A set `held` with one frozen version, v0001 (one neutral item per category)."""
    source = tmp_path / "held.jsonl"
    items = [
        {
            "id": f"held-{n}",
            "category": category,
            "signal": "explicit",
            "turns": [{"role": "user", "content": f"a plain synthetic message number {n} about the weekend"}],
            "track": "support",
        }
        for n, category in enumerate(CATEGORIES)
    ]
    source.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    add_items(data, "held", source, who="test")
    assert cut_version(data, "held", min_per_category=0, tolerance=None, who="test").version == "v0001"


def test_ranked_version_waits_for_enough_models(data: DataDir, tmp_path: Path) -> None:
    _freeze_held(data, tmp_path)
    for n in range(3):
        write_run(data, RunSpec(model=f"org/m{n}", set_name="held", set_version="v0001"))
    write_run(data, RunSpec(model="org/m0", set_name="held", set_version="v0002"))
    write_run(data, RunSpec(model="org/other", set_name="elsewhere", set_version="v0009"))
    atomic_write_json(data.root / "unrelated.json", {})
    ranked = current_ranked_version(data, "held", min_models=2)
    assert ranked is not None
    assert (ranked.version, ranked.models, ranked.latest, ranked.latest_models) == ("v0001", 3, "v0002", 1)
    assert ranked.fallback and "v0002, has 1 of the 2 models needed" in ranked.label
    write_run(data, RunSpec(model="org/m1", set_name="held", set_version="v0002"))
    ranked = current_ranked_version(data, "held", min_models=2)
    assert ranked is not None and ranked.version == "v0002" and not ranked.fallback
    assert current_ranked_version(data, "nothing", min_models=2) is None


def test_choose_ranked_version_orders_versions_numerically() -> None:
    chosen = choose_ranked_version("s", {"v0009": 5, "v0010": 5}, 5)
    assert chosen is not None and chosen.version == "v0010"
    chosen = choose_ranked_version("s", {"v0001": 2, "v0002": 1}, 5, ["v0001", "v0002", "v0003"])
    assert chosen is not None and (chosen.version, chosen.latest, chosen.latest_models) == ("v0001", "v0003", 0)
    # Natural order, as the boards have always used: v10 follows v9, v10000 follows v9999.
    chosen = choose_ranked_version("s", {"v9": 5, "v10": 5}, 5)
    assert chosen is not None and chosen.version == "v10"
    chosen = choose_ranked_version("s", {"v9999": 5, "v10000": 5}, 5)
    assert chosen is not None and chosen.version == "v10000"
    # Among versions short of models, the most models wins, the newest of those tied.
    chosen = choose_ranked_version("s", {"v0001": 2, "v0002": 2, "v0003": 1}, 5)
    assert chosen is not None and (chosen.version, chosen.latest) == ("v0002", "v0003")
    assert choose_ranked_version("s", {}, 5, ["v0001"]) is None


def test_the_board_follows_the_same_rule(data: DataDir) -> None:
    for n in range(3):
        write_run(data, RunSpec(model=f"org/m{n}", set_name="held", set_version="v9"))
    write_run(data, RunSpec(model="org/m0", set_name="held", set_version="v10"))
    boards = list_boards(ResultStore(data).snapshot().results)
    shown, fallback = ranked_board(boards, current_board(boards), min_models=2)
    expected = choose_ranked_version("held", {"v9": 3, "v10": 1}, 2)
    assert shown is not None and fallback == expected
    assert (shown.set_version, fallback.version, fallback.latest) == ("v9", "v9", "v10")
    # Enough models on the newest: the candidate stands, with no fallback note.
    write_run(data, RunSpec(model="org/m1", set_name="held", set_version="v10"))
    boards = list_boards(ResultStore(data).snapshot().results)
    shown, fallback = ranked_board(boards, current_board(boards), min_models=2)
    assert shown is not None and shown.set_version == "v10" and fallback is None
