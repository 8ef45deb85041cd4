"""The model page tab: one model's figures on one board, why it failed, and its example replies.

It shows what leaderboard.model_page computes; the leaderboard tab opens it on a selected row
(space.leaderboard_tab). Untrusted strings reach it only as escaped Markdown or plain cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from evaluator.storage import DataDir
from leaderboard.boards import Board
from leaderboard.links import markdown_text
from leaderboard.model_page import conversation_section, failure_mode_counts, model_detail, public_examples
from leaderboard.plots import category_figure, category_name
from leaderboard.query import Filters, Leaderboard, QueryError
from space.components import fields_between
from space.conversations import question_plot
from space.formatting import MAX_MODEL_CHOICES

# The example replies' seven columns, in pixels: shares of a phone's width were narrower than a
# word (one letter a line); at these the table scrolls sideways there and fits a desktop page.
EXAMPLE_WIDTHS: list[str | int] = ["72px", "172px", "120px", "100px", "300px", "300px", "80px"]
# leaderboard.model_page's per-category columns: the name, then counts, rates and intervals,
# each as wide as its header's longest word ("Inappropriate"), all within a 1400 px page.
CATEGORY_WIDTHS: list[str | int] = [
    *["116px", "64px", "76px", "64px", "76px", "64px", "76px"],
    *["112px", "96px", "96px", "96px", "80px", "76px", "84px"],
]
# The figure tables' three columns: name, value, interval (or group, mean).
FIGURE_WIDTHS: list[str | int] = ["42%", "27%", "31%"]  # the middle one holds "cognitive" on a phone
# The confusion matrix: the true label, then one column per answer, each as wide as its longest word.
CONFUSION_WIDTHS: list[str | int] = ["150px", *["112px"] * 9]
METADATA_WIDTHS: list[str | int] = ["45%", "55%"]
FULL_WIDTH: list[str | int] = ["100%"]


@dataclass
class ModelTab:
    model: gr.Dropdown
    # What show_model fills, in its order (`outputs`): failures first, examples last.
    failures: gr.Dataframe
    header: gr.Markdown
    per_category: gr.Dataframe
    plot: gr.Plot
    detection: gr.Dataframe
    confusion: gr.Dataframe
    refusal: gr.Dataframe
    support: gr.Dataframe
    metadata: gr.Dataframe
    history: gr.Dataframe
    conversations: gr.Markdown
    conversation_chart: gr.BarPlot
    examples: gr.Dataframe

    @property
    def outputs(self) -> list[Any]:
        return fields_between(self, "failures", "examples")


def build_model_tab(leaderboard: Leaderboard, current: Board | None) -> ModelTab:
    choices = model_choices(leaderboard, "")
    with gr.Row():
        model = gr.Dropdown(
            choices,
            value=None,
            label="Model",
            info="Or select a row of the leaderboard.",
            allow_custom_value=True,
            elem_id="model-select",
        )
    header = gr.Markdown("Choose a model.", elem_id="model-header")
    # Why it failed, first: the failure-mode tags and the worst replies, then the figures. One
    # above the other, full width: side by side the replies wrapped one letter a line on phones.
    failures = gr.Dataframe(interactive=False, label="Failure modes of its replies", elem_id="model-failures")
    examples = gr.Dataframe(
        interactive=False,
        label="Example replies, worst first (public sample set only)",
        wrap=True,
        max_height=420,
        column_widths=EXAMPLE_WIDTHS,
        elem_id="model-examples",
    )
    # Wrapped in fixed widths, so its fourteen columns fit a desktop page instead of running off
    # its right edge (an interval wraps after its comma); a phone scrolls it sideways.
    per_category = gr.Dataframe(
        interactive=False,
        label="Per category (95% intervals)",
        wrap=True,
        column_widths=CATEGORY_WIDTHS,
        elem_id="model-categories",
    )
    plot = gr.Plot(label="Harm rate by category", elem_id="model-plot")
    # Full width, so the no-label column (the last) is on screen without scrolling.
    confusion = gr.Dataframe(
        interactive=False,
        label="Detection confusion matrix (rows: true label; first column: answers naming no label)",
        visible=False,
        wrap=True,
        column_widths=CONFUSION_WIDTHS,
        elem_id="model-confusion",
    )
    # Full width each, names wrapping in a fixed share: three to a row clipped their value
    # columns ("0 of", "Me") at 1400 px, and long names pushed them off a phone's screen.
    detection = gr.Dataframe(
        interactive=False, label="Crisis detection", wrap=True, column_widths=FIGURE_WIDTHS, elem_id="model-detection"
    )
    refusal = gr.Dataframe(
        interactive=False, label="Refusal and enabling", wrap=True, column_widths=FIGURE_WIDTHS, elem_id="model-refusal"
    )
    support = gr.Dataframe(
        interactive=False,
        label="Support: cognitive vs affective",
        wrap=True,
        column_widths=FIGURE_WIDTHS,
        elem_id="model-support",
    )
    metadata = gr.Dataframe(
        interactive=False,
        label="Run metadata",
        wrap=True,
        column_widths=METADATA_WIDTHS,
        elem_id="model-metadata",
    )
    history = gr.Dataframe(interactive=False, label="All runs of this model (every set version and judge)")
    # Shown only for a model with conversation results (the Conversations tab's figures).
    conversations = gr.Markdown(visible=False, elem_id="model-conversations")
    conversation_chart = question_plot("model-conversation-chart", name_questions=True, visible=False)
    return ModelTab(
        model,
        failures,
        header,
        per_category,
        plot,
        detection,
        confusion,
        refusal,
        support,
        metadata,
        history,
        conversations,
        conversation_chart,
        examples,
    )


def category_plot(leaderboard: Leaderboard, board: Board | None, models: Sequence[str]) -> Any:
    if board is None:
        return category_figure(pd.DataFrame(columns=["model", "category", "value", "lo", "hi"]))
    return category_figure(leaderboard.category_figures(board, models))


def model_choices(leaderboard: Leaderboard, board_key: str) -> list[str]:
    try:
        result = leaderboard.query(Filters(board=board_key, limit=MAX_MODEL_CHOICES))
    except QueryError:
        return []
    return result.shown["model"].astype(str).tolist() if len(result.shown) else []


def model_outputs(leaderboard: Leaderboard, data: DataDir, board_key: str, model: str | None) -> tuple[Any, ...]:
    empty = pd.DataFrame()
    try:
        chosen = leaderboard.board(board_key or "")
    except QueryError:
        chosen = None
    detail = model_detail(leaderboard, chosen, model) if (chosen is not None and model) else None
    if detail is None:
        message = "Choose a model." if not model else f"No results for {markdown_text(model)} on this board."
        return (
            empty,
            message,
            empty,
            category_plot(leaderboard, None, []),
            empty,
            gr.Dataframe(value=empty, visible=False),
            empty,
            empty,
            empty,
            empty,
            gr.Markdown(visible=False),
            gr.BarPlot(visible=False),
            empty,
        )
    header = [f"## {markdown_text(detail.model)}"]
    links = []
    if detail.hub_url:
        links.append(f"[Hugging Face page]({detail.hub_url})")
    board = detail.board
    header.append(
        " · ".join(
            [
                *links,
                f"type {markdown_text(detail.overall.get('model_type') or 'unknown')}",
                f"set {markdown_text(board.set_name)} {markdown_text(board.set_version)}",
                f"judge {markdown_text(board.judge)}",
            ]
        )
    )
    figures = []
    if detail.rank == "ref.":
        figures.append("reference baseline (never ranked)")
    elif detail.rank:
        figures.append(f"rank **{markdown_text(detail.rank)}** of {board.ranked_models} on this board (95% interval)")
    else:
        figures.append("not ranked on this board")
    if detail.no_label_text:
        figures.append(f"crisis detection: {detail.no_label_text}")
    header.append(" · ".join(figures))
    if board.demo:
        header.append("**Demo**: a scripted reference model written by the project, not a real model.")
    if not board.official:
        header.append("⚠️ **Unofficial**: scored by the offline heuristic judge.")
    if not board.latest_version:
        header.append("🕘 **Older set version**.")
    examples = public_examples(data, detail.model)
    failures = failure_mode_counts(data, detail.model)
    # The one-column message takes the whole width (in the first of seven widths it read one letter a line).
    shown = (
        gr.Dataframe(
            value=pd.DataFrame({"Example replies": ["No public example replies are published for this model."]}),
            column_widths=FULL_WIDTH,
        )
        if examples.empty
        else gr.Dataframe(value=named_categories(examples, "Category"), column_widths=EXAMPLE_WIDTHS)
    )
    return (
        failures,
        "\n\n".join(header),
        named_categories(detail.per_category, "Category"),
        category_figure(leaderboard.category_figures(board, [detail.model])),
        detail.detection,
        gr.Dataframe(value=_named_confusion(detail.confusion), visible=True)
        if detail.confusion is not None
        else gr.Dataframe(value=empty, visible=False),
        detail.refusal,
        detail.support,
        detail.metadata,
        detail.history,
        *conversation_outputs(leaderboard, detail.model),
        shown,
    )


def named_categories(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`column`'s category keys by the names the plots and the leaderboard use ("Self-harm"): a
    key such as substance_abuse_or_withdrawal has no space to wrap at on a phone."""
    if column not in frame.columns:
        return frame
    return frame.assign(**{column: [category_name(str(c)) for c in frame[column]]})


def _named_confusion(frame: pd.DataFrame) -> pd.DataFrame:
    named = named_categories(frame, frame.columns[0]) if len(frame.columns) else frame
    return named.rename(columns={c: category_name(str(c)) for c in named.columns[1:]})


def conversation_outputs(leaderboard: Leaderboard, model: str) -> tuple[Any, Any]:
    section = conversation_section(leaderboard, model)
    if section is None:
        return gr.Markdown(visible=False), gr.BarPlot(visible=False)
    text = (
        f"### In conversations\n\n{section.summary}\n\n"
        f"Board: {markdown_text(section.board.label)}; transcripts of public personas in the Conversations tab."
    )
    return gr.Markdown(text, visible=True), gr.BarPlot(section.chart, visible=True)


def wire_model_tab(leaderboard: Leaderboard, data: DataDir, board_select: gr.Dropdown, mp: ModelTab) -> None:
    """The model page follows its model and the leaderboard tab's board (`board_select`)."""

    def show_model(board_key: str, model: str | None) -> tuple[Any, ...]:
        return model_outputs(leaderboard, data, board_key, model)

    gr.on(
        [mp.model.change, board_select.change],
        show_model,
        [board_select, mp.model],
        mp.outputs,
        api_visibility="private",
        show_progress="hidden",
    )
    board_select.change(
        lambda key: gr.Dropdown(choices=model_choices(leaderboard, key or "")),
        [board_select],
        [mp.model],
        api_visibility="private",
    )


__all__ = [
    "ModelTab",
    "build_model_tab",
    "category_plot",
    "conversation_outputs",
    "model_choices",
    "model_outputs",
    "wire_model_tab",
]
