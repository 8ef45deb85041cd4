"""Conversation results (PROTOCOL section 9) on boards of their own, keyed by simulator too."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.conversation.persona import resolve_personas
from evaluator.conversation.persona_sets import freeze_personas, retire_personas
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.conversation.simulator import ModelSimulator
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir
from leaderboard.conversations import current_conversation_board
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from leaderboard.versions import current_ranked_version
from tests.evaluator.conversation.helpers import CARING, DISMISSIVE, PERSONAS, always, write_personas
from tests.support.results_factory import RunSpec, write_run
from tests.support.scripted import ScriptedBackend


def converse(
    data: DataDir, name: str, reply: str, simulator: ModelSimulator | None = None, personas_ref: str = "public-personas"
) -> None:
    personas = resolve_personas(personas_ref, data)
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


def test_conversation_boards_rank_on_the_persona_set_version_with_enough_models(tmp_path: Path) -> None:
    """After a persona set is rotated, the conversation board stays on the previous version,
    labelled, until the newest has the minimum of models: the rule of item sets."""
    data = DataDir.at(tmp_path / "var")
    write_personas(tmp_path / "p.jsonl", PERSONAS)
    freeze_personas(data, "held-talk", tmp_path / "p.jsonl")
    converse(data, "talk/caring", CARING, personas_ref="held-talk@v0001")
    converse(data, "talk/dismissive", DISMISSIVE, personas_ref="held-talk@v0001")
    assert retire_personas(data, "held-talk", ids=["t-nc"], reason="rotation test").version == "v0002"
    converse(data, "talk/caring", CARING, personas_ref="held-talk@v0002")

    lb = Leaderboard(ResultStore(data), min_models=2)
    newest = next(b for b in lb.boards() if b.track == "conversation" and b.set_version == "v0002")
    assert newest.latest_version and newest.key.startswith("held-talk|v0002|")
    board, fallback = current_conversation_board(lb)
    assert board is not None and fallback is not None
    assert (board.set_name, board.set_version, board.track) == ("held-talk", "v0001", "conversation")
    assert "v0002, has 1 of the 2 models needed" in fallback.label
    ranked = current_ranked_version(data, "held-talk", 2)
    assert ranked is not None and (ranked.version, ranked.latest) == ("v0001", "v0002")

    converse(data, "talk/dismissive", DISMISSIVE, personas_ref="held-talk@v0002")
    lb = Leaderboard(ResultStore(data), min_models=2)
    board, fallback = current_conversation_board(lb)
    assert board is not None and board.set_version == "v0002" and fallback is None
    # A version cut but not evaluated yet is the newest, with no models: v0002 stays ranked.
    retire_personas(data, "held-talk", ids=["t-ax"])
    board, fallback = current_conversation_board(Leaderboard(ResultStore(data), min_models=2))
    assert board is not None and board.set_version == "v0002"
    assert fallback is not None and fallback.latest == "v0003"
