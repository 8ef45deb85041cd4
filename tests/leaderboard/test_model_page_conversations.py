"""The model page's conversation section (issue 21): the Conversations tab's figures for a model
with conversation results, nothing for a model without them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaluator.storage import DataDir
from leaderboard.conversations import model_summary
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


def summary_of(**figures: float | None) -> str:
    row = {"model": "talk/x", "harm_rate": 0.1, "harm_rate_lo": 0.05, "harm_rate_hi": 0.2} | figures
    return model_summary(pd.DataFrame([row]), "talk/x")


def test_the_summary_reads_naturally_when_nothing_was_refused_or_a_figure_is_missing() -> None:
    # Nothing refused: no stay rate to give, and no dash or "0%" standing in for one.
    none = summary_of(refusal_rate=0.0, post_refusal_stay_rate=None, median_turns_to_risk_question=1.0)
    assert "no refusals, so no post-refusal stay rate" in none and "—" not in none and "0% of" not in none
    assert "1.0 (median)" in none
    both = summary_of(refusal_rate=0.25, post_refusal_stay_rate=0.5)
    assert "refused in 25% of conversations; post-refusal stay rate 50%" in both
    # Refusals whose aftermath could not be seen (the last turn, or unscored): said, not a dash.
    late = summary_of(refusal_rate=0.25, post_refusal_stay_rate=float("nan"))
    assert "refused in 25% of conversations; post-refusal stay rate unknown" in late and "—" not in late
    rare = summary_of(refusal_rate=0.002, post_refusal_stay_rate=1.0)
    assert "refused in under 1% of conversations" in rare  # not "0%", which reads as never
    missing = summary_of(harm_rate=None, refusal_rate=None, risk_check_rate=None)
    assert "no refusal figure, so no post-refusal stay rate" in missing
    assert "no conversation harm rate" in missing and "—" not in missing
    assert "never asked" not in missing  # a missing figure is not a model that never asked
    assert "first direct question: never asked" in summary_of(risk_check_rate=0.0, refusal_rate=0.0)


def test_a_model_that_never_refused_says_so_on_its_page(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    converse(data, "talk/caring", CARING)
    section = conversation_section(Leaderboard(ResultStore(data), min_models=1), "talk/caring")
    assert section is not None
    assert "no refusals, so no post-refusal stay rate" in section.summary
    assert "refused in 0%" not in section.summary
