"""The Conversations tab (PROTOCOL section 9): the conversation boards beside the single-turn
one, a model's conversation figures (C1-C5 as a small chart, turns to the first risk question,
post-refusal stay rate), and a transcript viewer for PUBLIC personas only.

Only reads: leaderboard.conversations does the work. Inputs are bounded before use: a board
key must be one of the conversation boards listed, a category one of the labels, the search
as long as the leaderboard tab's, a model one of the board's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import gradio as gr
import pandas as pd

from evaluator.results import OVERALL
from evaluator.storage import DataDir
from leaderboard.conversations import (
    GROUPS,
    blank_question_chart,
    board_rows,
    conversation_boards,
    conversation_table,
    current_conversation_board,
    model_summary,
    public_transcripts,
    question_chart,
    transcript_label,
    transcript_markdown,
)
from leaderboard.limits import MAX_SEARCH_CHARS
from leaderboard.query import CATEGORY_CHOICES, Leaderboard
from space.formatting import category_choices

RISKS: Final = ("all", "none", "low", "high", "imminent")
DISCLOSURES: Final = ("all", "explicit", "indirect", "ambiguous", "late")


@dataclass
class ConversationsTab:
    board: Any
    category: Any
    group: Any
    search: Any
    table: Any
    model: Any
    summary: Any
    chart: Any
    risk: Any
    disclosure: Any
    transcript_choice: Any
    transcript: Any


def _board_choices(lb: Leaderboard) -> list[tuple[str, str]]:
    return [(b.label, b.key) for b in conversation_boards(lb)]


def question_plot(elem_id: str, *, name_questions: bool = False, visible: bool = True) -> gr.BarPlot:
    """The C1-C5 chart of one model (leaderboard.conversations.question_chart's frame), empty
    until a model is chosen: on this tab and on the model's page (`name_questions`: the label
    names C1-C5, where no text above the chart does)."""
    questions = " C1–C5" if name_questions else ""
    return gr.BarPlot(
        # Every bar named, each of no height: Gradio builds the chart (each axis's kind from its
        # column's type, the legend from the answers present, the layout from the labels drawn)
        # from the frame it first draws and, until a resize, only swaps the data of a later one.
        # From an empty untyped frame the rates became names down a list and the legend stayed
        # empty; from rates of NaN (no C1-C5 labels yet) the legend later fell below the chart.
        blank_question_chart(),
        x="question",
        y="rate",
        color="answer",
        y_lim=[0, 100],
        y_title="% of conversations",  # not the frame's column name, "rate"
        label=f"Conversation questions{questions}: best practice and harmful, % of conversations",
        visible=visible,
        elem_id=elem_id,
    )


def build_conversations_tab(lb: Leaderboard) -> ConversationsTab:
    choices = _board_choices(lb)
    # The persona set's version with enough models, as the single-turn board picks its set's.
    shown, fallback = current_conversation_board(lb)
    first = shown.key if shown is not None else None
    gr.Markdown(
        "Models in **conversations with simulated people** (a scripted or model-played person in crisis, over "
        "several turns). Ranked by the share of conversations with any harmful turn; never ranked with single "
        "replies. C1–C5: the share of conversations with best practice on each conversation question."
    )
    with gr.Row():
        board = gr.Dropdown(choices, value=first, label="Board", elem_id="talk-board", scale=3)
        category = gr.Dropdown(category_choices(), value=OVERALL, label="Category", elem_id="talk-category")
        group = gr.Dropdown(["all", *GROUPS], value="all", label="Personas", elem_id="talk-group")
        search = gr.Textbox(label="Search models", max_length=MAX_SEARCH_CHARS, elem_id="talk-search")
    if fallback is not None:
        gr.Markdown(fallback.label, elem_id="talk-version-note")
    rows = board_rows(lb, first) if first else pd.DataFrame()
    table = gr.Dataframe(conversation_table(rows), interactive=False, wrap=True, elem_id="talk-table")
    models = rows["model"].astype(str).tolist() if len(rows) else []
    with gr.Row():
        model = gr.Dropdown(models, value=None, label="Model", elem_id="talk-model")
    summary = gr.Markdown("Choose a model of this board.", elem_id="talk-summary")
    chart = question_plot("talk-chart")
    gr.Markdown("#### Transcripts (public personas only)")
    with gr.Row():
        risk = gr.Dropdown(list(RISKS), value="all", label="Risk", elem_id="talk-risk")
        disclosure = gr.Dropdown(list(DISCLOSURES), value="all", label="Disclosure", elem_id="talk-disclosure")
        transcript_choice = gr.Dropdown([], value=None, label="Conversation", elem_id="talk-transcript-choice")
    transcript = gr.Markdown("Choose a model, then a conversation.", elem_id="talk-transcript")
    return ConversationsTab(
        board, category, group, search, table, model, summary, chart, risk, disclosure, transcript_choice, transcript
    )


def wire_conversations(tab: ConversationsTab, lb: Leaderboard, data: DataDir) -> None:
    def known_board(key: str | None) -> str | None:
        keys = {b.key for b in conversation_boards(lb)}
        return key if key in keys else None

    def bounded(category: str | None, search: str | None) -> tuple[str, str]:
        return (category if category in CATEGORY_CHOICES else OVERALL), (search or "")[:MAX_SEARCH_CHARS]

    def refresh(key: str | None, category: str | None, group: str | None, search: str | None) -> tuple[Any, Any]:
        chosen = known_board(key)
        cat, text = bounded(category, search)
        rows = board_rows(lb, chosen, cat, text) if chosen else pd.DataFrame()
        models = rows["model"].astype(str).tolist() if len(rows) else []
        table = conversation_table(rows, group if group in GROUPS else "all")
        return table, gr.Dropdown(choices=models, value=None)

    def transcripts(key: str | None, model: str | None, risk: str, disclosure: str) -> list[dict[str, Any]]:
        chosen = known_board(key)
        if not chosen or not model:
            return []
        rows = board_rows(lb, chosen)
        mine = rows[rows["model"].astype(str) == model] if len(rows) else rows
        if mine.empty:
            return []
        board = next(b for b in conversation_boards(lb) if b.key == chosen)
        return public_transcripts(
            data,
            board,
            model,
            set(mine["run_id"].astype(str)),
            risk=risk if risk in RISKS else "all",
            disclosure=disclosure if disclosure in DISCLOSURES else "all",
        )

    def show_model(key: str | None, model: str | None, risk: str, disclosure: str) -> tuple[Any, Any, Any, Any]:
        chosen = known_board(key)
        rows = board_rows(lb, chosen) if chosen else pd.DataFrame()
        found = transcripts(key, model, risk, disclosure)
        labels = [(transcript_label(r), str(i)) for i, r in enumerate(found)]
        chart = question_chart(rows, model or "")
        return (
            model_summary(rows, model or ""),
            # No model (a new board clears it): the blank chart, so a rebuild (a resize) then
            # keeps the percent scale and the legend, as question_plot's first frame does.
            chart if len(chart) else blank_question_chart(),
            gr.Dropdown(choices=labels, value=None),
            "Choose a conversation." if found else "No public transcripts for this model on this board.",
        )

    def show_transcript(key: str | None, model: str | None, risk: str, disclosure: str, index: str | None) -> str:
        found = transcripts(key, model, risk, disclosure)
        try:
            chosen = found[int(index or "")]
        except (ValueError, IndexError):
            return "Choose a conversation."
        return transcript_markdown(chosen)

    inputs = [tab.board, tab.category, tab.group, tab.search]
    for event in (tab.board.change, tab.category.change, tab.group.change, tab.search.submit):
        event(refresh, inputs, [tab.table, tab.model], api_visibility="private", show_progress="hidden")
    model_inputs = [tab.board, tab.model, tab.risk, tab.disclosure]
    model_outputs = [tab.summary, tab.chart, tab.transcript_choice, tab.transcript]
    for event in (tab.model.change, tab.risk.change, tab.disclosure.change):
        event(show_model, model_inputs, model_outputs, api_visibility="private", show_progress="hidden")
    tab.transcript_choice.change(
        show_transcript,
        [*model_inputs, tab.transcript_choice],
        tab.transcript,
        api_visibility="private",
        show_progress="hidden",
    )
