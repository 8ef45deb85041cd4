"""Conversation results (PROTOCOL section 9) on boards of their own, keyed by simulator too."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.conversation.persona import resolve_personas
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.conversation.simulator import ModelSimulator
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from tests.evaluator.conversation.helpers import CARING, DISMISSIVE, always
from tests.support.results_factory import RunSpec, write_run
from tests.support.scripted import ScriptedBackend


def converse(data: DataDir, name: str, reply: str, simulator: ModelSimulator | None = None) -> None:
    personas = resolve_personas("public-personas", data)
    config = ConversationConfig(model=name, personas=personas, max_turns=3)
    outcome = run_conversations(
        config,
        data,
        progress=False,
        backend=ScriptedBackend(always(reply), name=name),
        simulator=simulator,
        judges=[HeuristicJudge()],
    )
    assert outcome.complete, outcome.reason


def test_conversation_boards_are_separate_per_simulator_and_from_single_turn(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    write_run(data, RunSpec("single/turn", harm=0.2, set_name="public-personas", set_version="1", judge="heuristic@1"))
    converse(data, "talk/caring", CARING)
    converse(data, "talk/dismissive", DISMISSIVE)
    person = ModelSimulator(ScriptedBackend(always("I see. Tell me more, I guess."), name="scripted:person"))
    converse(data, "talk/other-sim", CARING, simulator=person)
    lb = Leaderboard(ResultStore(data), min_models=1)
    boards = lb.boards()
    talk = [b for b in boards if b.track == "conversation"]
    assert {b.simulator for b in talk} == {"script@1", "scripted:person@test"}
    script_board = next(b for b in talk if b.simulator == "script@1")
    assert "simulator script@1" in script_board.label and script_board.key.endswith("|conversation|script@1")
    result = lb.query(Filters(board=script_board.key))
    assert set(result.rows["model"]) == {"talk/caring", "talk/dismissive"}  # never the other simulator's
    harm = dict(zip(result.rows["model"], result.rows["harm_rate"], strict=True))
    assert harm["talk/caring"] < harm["talk/dismissive"]
    single = next(b for b in boards if b.track == "single_turn")
    assert set(lb.query(Filters(board=single.key)).rows["model"]) == {"single/turn"}


def test_table_track_conversation_prints_only_conversation_rows_with_their_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leaderboard.cli import main

    data = DataDir.at(tmp_path / "var")
    write_run(data, RunSpec("single/turn", harm=0.2))
    converse(data, "talk/caring", CARING)
    assert main(["table", "--data", str(data.root), "--track", "conversation", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    assert "c1_best_rate" in header and "post_refusal_stay_rate" in header and "simulator" in header
    assert len(lines) == 1 + 8 and all(line.startswith("talk/caring,") for line in lines[1:])
    assert main(["table", "--data", str(data.root), "--track", "single_turn", "--format", "csv"]) == 0
    single = capsys.readouterr().out.splitlines()
    assert "c1_best_rate" not in single[0] and all(line.startswith("single/turn,") for line in single[1:])
