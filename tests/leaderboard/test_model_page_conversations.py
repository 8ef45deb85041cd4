"""The model page's conversation section (issue 21): the Conversations tab's figures for a model
with conversation results, nothing for a model without them."""

from __future__ import annotations

from pathlib import Path

from evaluator.storage import DataDir
from leaderboard.model_page import conversation_section
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from tests.evaluator.conversation.helpers import CARING, DISMISSIVE
from tests.leaderboard.test_conversation_boards import converse
from tests.support.results_factory import RunSpec, write_run


def test_a_model_with_conversations_gets_its_c1_to_c5_turns_and_stay_rate(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    write_run(data, RunSpec("single/turn", harm=0.2, set_name="public-personas", set_version="1", judge="heuristic@1"))
    converse(data, "talk/caring", CARING)
    converse(data, "talk/dismissive", DISMISSIVE)
    lb = Leaderboard(ResultStore(data), min_models=1)
    section = conversation_section(lb, "talk/caring")
    assert section is not None and section.board.track == "conversation"
    assert set(section.chart["question"]) == {"C1", "C2", "C3", "C4", "C5"}
    assert set(section.chart["answer"]) <= {"best", "harmful"}
    assert section.chart["rate"].between(0, 100).all()
    assert "turns from visible risk to the first direct question" in section.summary
    assert "post-refusal stay rate" in section.summary and "talk/caring" in section.summary
    other = conversation_section(lb, "talk/dismissive")
    assert other is not None and not other.chart.equals(section.chart)  # the model's own figures
    assert conversation_section(lb, "single/turn") is None
