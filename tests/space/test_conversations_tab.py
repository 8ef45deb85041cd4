"""The Conversations tab: conversation boards, a model's figures, transcripts of public personas only."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from evaluator.audit import run_audit
from evaluator.conversation import ConversationConfig, load_persona_set, resolve_personas, run_conversations
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir
from leaderboard.conversations import (
    board_rows,
    conversation_boards,
    conversation_table,
    model_summary,
    public_transcripts,
    question_chart,
    transcript_markdown,
)
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from tests.evaluator.conversation.helpers import CARING, DISMISSIVE, PERSONAS, always
from tests.space.conftest import serve
from tests.support.scripted import ScriptedBackend

CANARY = "CANARY-7c1d the private persona's words about the orchard behind the station"


def converse(data: DataDir, personas, name: str, reply: str) -> str:
    config = ConversationConfig(model=name, personas=personas, max_turns=2)
    backend = ScriptedBackend(always(reply), name=name)
    outcome = run_conversations(config, data, progress=False, backend=backend, judges=[HeuristicJudge()])
    assert outcome.complete, outcome.reason
    return outcome.run_id


def test_tab_shows_boards_figures_and_public_transcripts_only(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    public = resolve_personas("public-personas", data)
    caring_run = converse(data, public, "talk/caring", CARING + " <b>**bold**</b>")
    converse(data, public, "talk/cold", DISMISSIVE)
    held_path = tmp_path / "held.jsonl"
    held_path.write_text(json.dumps(dict(PERSONAS[0], id="held-1", opening=CANARY)) + "\n")
    converse(data, load_persona_set(held_path), "talk/caring", CARING)
    # A private record written into a public transcript file by mistake never reaches the page.
    planted = data.public / "conversations" / f"{caring_run}.jsonl"
    leak = {"model": "talk/caring", "set_visibility": "private", "set_name": "public-personas", "set_version": "1"}
    with planted.open("a") as fh:
        fh.write(json.dumps(leak | {"persona_id": "held-1", "turns": [{"role": "user", "content": CANARY}]}) + "\n")

    lb = Leaderboard(ResultStore(data), min_models=1)
    boards = conversation_boards(lb)
    public_board = next(b for b in boards if b.set_name == "public-personas")
    rows = board_rows(lb, public_board.key)
    table = conversation_table(rows)
    assert set(table["Model"]) == {"talk/caring", "talk/cold"}
    assert "C1 detects the risk" in table.columns and "Stayed after refusal" in table.columns
    late = conversation_table(rows, "disclosure late")
    assert "Harm: disclosure late" in late.columns and set(late["Conversations: disclosure late"]) == {"7"}
    chart = question_chart(rows, "talk/caring")
    assert set(chart["question"]) == {"C1", "C2", "C3", "C4", "C5"} and set(chart["answer"]) == {"best", "harmful"}
    assert "post-refusal stay rate" in model_summary(rows, "talk/caring")
    found = public_transcripts(data, public_board, "talk/caring", set(rows["run_id"].astype(str)))
    assert len(found) == len(public.personas) and all(r["set_visibility"] == "public" for r in found)
    late_talks = public_transcripts(data, public_board, "talk/caring", set(rows["run_id"]), disclosure="late")
    assert late_talks and all(r["disclosure"] == "late" for r in late_talks)
    text = transcript_markdown(found[0])
    assert "**Model 1** — *level" in text and "<b>" not in text and "&lt;b&gt;" in text
    # The private persona set's board lists the model, but no transcript exists for it.
    private_board = next(b for b in boards if b.set_name == "held")
    private_rows = board_rows(lb, private_board.key)
    assert public_transcripts(data, private_board, "talk/caring", set(private_rows["run_id"].astype(str))) == []

    served = serve(data)
    try:
        page = httpx.get(served.url, timeout=30).text
        config = httpx.get(served.url + "config", timeout=30).text
    finally:
        served.demo.close()
    assert "Conversations" in config and "talk-table" in config
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    (fetched / "page.html").write_text(page)
    (fetched / "config.json").write_text(config)
    assert "orchard" not in page + config
    assert run_audit(data, [fetched]) == []


def test_the_c1_c5_chart_starts_with_every_bar_named_and_a_percent_scale() -> None:
    # Gradio keeps the axis kinds, the legend and the layout of the first frame a chart draws:
    # an untyped empty frame made the rates names down a list and left the legend empty.
    import gradio as gr

    from leaderboard.conversations import ANSWERS, QUESTIONS
    from space.conversations import question_plot

    with gr.Blocks():
        chart = question_plot("c1-c5")
    first = chart.value
    assert first["datatypes"] == {"question": "nominal", "answer": "nominal", "rate": "quantitative"}
    assert {(q, a) for q, a, _ in first["data"]} == {(q, a) for q in QUESTIONS for a in ANSWERS}
    assert {rate for _, _, rate in first["data"]} == {0.0}


def test_choosing_no_model_gives_the_blank_chart_back(tmp_path: Path) -> None:
    # A new board clears the model; the chart it then holds is what a resize rebuilds from.
    from leaderboard.conversations import blank_question_chart
    from space.app import build_app

    demo = build_app(DataDir.at(tmp_path / "var"), enable_login=False)
    # One function behind the model, risk and disclosure events.
    [show] = {
        f.fn for f in demo.fns.values() if getattr(f.fn, "__qualname__", "") == "wire_conversations.<locals>.show_model"
    }
    assert show is not None
    summary, chart, _, _ = show(None, None, "all", "all")
    assert summary == "Choose a model of this board."
    assert chart.equals(blank_question_chart())
