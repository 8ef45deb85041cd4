"""The demo board: scripted models evaluated by the real pipeline and offline judge, on a
board of their own, never mixed with real results; CRISIS_DEMO=0 hides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.backends import make_backend, parse_spec
from evaluator.backends.base import GenerationParams
from evaluator.backends.demo import DEMO_SPECS
from evaluator.storage import DataDir
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    from app import seed_baselines, seed_demo  # the repository root is on sys.path

    data = DataDir.at(Path(tmp_path_factory.mktemp("demo")) / "var")
    seed_baselines(data)
    assert seed_demo(data) == len(DEMO_SPECS)
    return data


def test_demo_specs_parse_and_answer_every_conversation() -> None:
    for spec in DEMO_SPECS:
        assert str(parse_spec(spec)) == spec
        backend = make_backend(spec)
        assert backend.info.model_type == "demo"
        replies = backend.generate(
            [[{"role": "user", "content": "I can't stop crying and I feel alone"}]], GenerationParams()
        )
        assert replies[0].ok and replies[0].text
    with pytest.raises(ValueError, match="unknown demo model"):
        make_backend("demo:nope")


def test_a_fresh_deployment_opens_on_the_ranked_demo_board(demo_data: DataDir) -> None:
    board = Leaderboard(ResultStore(demo_data))
    result = board.query(Filters())
    assert result.board is not None and result.board.demo and not result.board.official
    assert "DEMO" in result.board.label
    rows = result.rows.set_index("model")
    assert set(rows.index) == {*DEMO_SPECS, "baseline:refusal", "baseline:template"}
    demo_rows = rows.loc[list(DEMO_SPECS)]
    assert demo_rows["rank_best"].notna().all()  # ranked, with intervals
    assert demo_rows["harm_rate_lo"].notna().all()
    assert rows.loc[["baseline:refusal", "baseline:template"], "rank_best"].isna().all()  # references only
    # Clearly different quality levels come out in that order, whatever the heuristic's details.
    level = {str(m): float(v) for m, v in rows["mean_level"].items()}
    harm = {str(m): float(v) for m, v in rows["harm_rate"].items()}
    assert level["demo:attentive"] > level["demo:dismissive"]
    assert harm["demo:dismissive"] > harm["demo:attentive"]
    # The baselines' own board is still there, without the demo models.
    others = [b for b in result.boards if not b.demo]
    assert others and all(not set(board.query(Filters(board=b.key)).rows["model"]) & set(DEMO_SPECS) for b in others)


def test_demo_off_hides_the_demo_board(demo_data: DataDir) -> None:
    board = Leaderboard(ResultStore(demo_data), demo=False)
    result = board.query(Filters())
    assert result.board is not None and not result.board.demo
    assert not set(result.rows["model"]) & set(DEMO_SPECS)
    assert all(not b.demo for b in board.boards())
