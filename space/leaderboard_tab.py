"""The leaderboard tab: the filters, the table, the by-category grid and the plots, and the
events that keep them in step with the filters.

Filtering happens on the server with pandas: the page receives only the rows it shows. The
filtered table is the one public API endpoint, `/leaderboard`; every other event is private.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from evaluator.results import OVERALL
from evaluator.storage import DataDir
from leaderboard.boards import Board
from leaderboard.display import CHOOSABLE_COLUMNS, COLUMN_BY_KEY, COLUMNS, DEFAULT_COLUMNS, PIVOT_METRICS
from leaderboard.links import plain_text
from leaderboard.plots import category_name, ranking_figure, safety_helpfulness_figure
from leaderboard.query import (
    ALL_SIGNALS,
    DEFAULT_LIMIT,
    MODEL_TYPES,
    SIGNAL_CHOICES,
    Filters,
    Leaderboard,
    QueryError,
    QueryResult,
    filters_from,
)
from space.components import fields_between
from space.formatting import (
    MAX_MODEL_CHOICES,
    PARQUET_HREF,
    baseline_note,
    board_choices,
    category_choices,
    csv_href,
    hidden_note,
    license_choices,
    pivot_styler,
    plot_choices,
    plot_defaults,
    query_table,
    status_markdown,
    versions_markdown,
)
from space.model_tab import ModelTab, model_choices, wire_model_tab
from space.model_tab import category_plot as _category_plot

# The pivot's columns: the model, then up to eight categories (overall and the seven), each as
# wide as its longest word ("withdrawal", "behaviours") and all of them within a 1400 px page.
PIVOT_WIDTHS: list[str | int] = ["170px", *["118px"] * 8]


@dataclass
class LeaderboardTab:
    board: gr.Dropdown
    category: gr.Dropdown
    signal: gr.Radio
    search: gr.Textbox
    model_types: gr.CheckboxGroup
    licenses: gr.Dropdown
    params_min: gr.Number
    params_max: gr.Number
    harm_min: gr.Slider
    harm_max: gr.Slider
    show_baselines: gr.Checkbox
    columns: gr.CheckboxGroup
    sort_by: gr.Dropdown
    descending: gr.Checkbox
    limit: gr.Number
    status: gr.Markdown
    hidden: gr.Markdown
    table: gr.Dataframe
    note: gr.Markdown
    csv_link: gr.Button
    pivot_metric: gr.Dropdown
    pivot: gr.Dataframe
    plot_models: gr.Dropdown
    category_plot: gr.Plot
    scatter_plot: gr.Plot
    versions: gr.Markdown
    ranking_plot: gr.Plot

    @property
    def filters(self) -> list[Any]:
        return fields_between(self, "board", "limit")


def build_leaderboard_tab(
    leaderboard: Leaderboard, initial: QueryResult, table: dict[str, Any], current: Board | None
) -> LeaderboardTab:
    boards = initial.boards
    column_choices = [(COLUMN_BY_KEY[k].label, k) for k in CHOOSABLE_COLUMNS]
    with gr.Row():
        board = gr.Dropdown(
            board_choices(boards, current, initial.fallback),
            value="",
            label="Set version and judge",
            info="Results on different set versions or judges are never ranked together.",
            allow_custom_value=True,  # boards that appear after start-up stay reachable by key
            scale=3,
            elem_id="board",
        )
        category = gr.Dropdown(
            category_choices(),
            value=OVERALL,
            label="Category",
            info="Switches every figure to this category.",
            # Checked by Filters.validated, which answers a bad value in one line (Gradio's
            # own check would log a traceback for every bad API call).
            allow_custom_value=True,
            scale=2,
            elem_id="category",
        )
        signal = gr.Radio(
            list(SIGNAL_CHOICES),
            value=ALL_SIGNALS,
            label="Signal",
            info="Items of one signal type.",
            scale=2,
            elem_id="signal",
        )
    with gr.Accordion("Filters", open=True, elem_id="filters"):
        with gr.Row():
            search = gr.Textbox(
                label="Search models",
                placeholder="llama 8b; mistral",
                info="Words must all match; ';' separates alternatives.",
                scale=3,
                elem_id="search",
            )
            model_types = gr.CheckboxGroup(
                list(MODEL_TYPES),
                value=[],
                label="Model type",
                info="None checked: every type.",
                scale=2,
                elem_id="model-types",
            )
            show_baselines = gr.Checkbox(value=True, label="Show baselines", scale=1, elem_id="show-baselines")
        with gr.Row():
            licenses = gr.Dropdown(
                license_choices(leaderboard),
                value=[],
                multiselect=True,
                allow_custom_value=True,
                label="License",
                info="Empty: every license.",
                scale=2,
                elem_id="licenses",
            )
            params_min = gr.Number(
                value=None, minimum=0, label="Min parameters (B)", info="0: no minimum", scale=1, elem_id="params-min"
            )
            params_max = gr.Number(
                value=None, minimum=0, label="Max parameters (B)", info="0: no maximum", scale=1, elem_id="params-max"
            )
            harm_min = gr.Slider(0, 100, value=0, step=0.5, label="Min harm rate %", scale=2, elem_id="harm-min")
            harm_max = gr.Slider(0, 100, value=100, step=0.5, label="Max harm rate %", scale=2, elem_id="harm-max")
    with gr.Accordion("Columns and sorting", open=False):
        columns = gr.CheckboxGroup(
            column_choices, value=[k for k in DEFAULT_COLUMNS if k in CHOOSABLE_COLUMNS], label="Columns"
        )
        with gr.Row():
            sort_by = gr.Dropdown([(c.label, c.key) for c in COLUMNS], value="rank", label="Sort by", elem_id="sort-by")
            descending = gr.Checkbox(value=False, label="Descending")
            limit = gr.Number(value=DEFAULT_LIMIT, precision=0, minimum=0, label="Rows shown (0 = all)")
    status = gr.Markdown(status_markdown(initial), elem_classes=["lb-status"], elem_id="status")
    hidden = gr.Markdown(hidden_note(leaderboard.snapshot().hidden), elem_classes=["lb-hidden"], elem_id="hidden-note")
    table_component = gr.Dataframe(
        value=table,
        # Every cell is text, the model name too: plain names for API users, and nothing a
        # hostile name could turn into markup. The Hub link is on the model page.
        datatype=["str"] * len(COLUMNS),
        latex_delimiters=[],  # model names are untrusted: no LaTeX rendering either
        interactive=False,
        max_height=640,
        pinned_columns=2,
        wrap=True,
        label="Leaderboard (select a row to open its model page)",
        elem_id="leaderboard-table",
    )
    note = gr.Markdown(baseline_note(initial), elem_classes=["lb-hidden"], elem_id="baseline-note")
    # Links to the REST API's routes (space.api), kept in step with the filters: a download is
    # one plain GET, and no file of the server's, nor its path, is handed to the page.
    with gr.Row():
        csv_link = gr.Button(
            "Download the filtered table (CSV)", size="sm", link=csv_href(Filters()), elem_id="download-csv"
        )
        gr.Button("Download all results (Parquet)", size="sm", link=PARQUET_HREF, elem_id="download-parquet")
    with gr.Accordion("Changelog: set versions and protocol versions", open=False, elem_id="versions"):
        versions = gr.Markdown(versions_markdown(boards), elem_classes=["lb-hidden"], elem_id="versions-note")
    with gr.Accordion("By category", open=True):
        pivot_metric = gr.Dropdown(
            [(label, key) for key, label in PIVOT_METRICS.items()], value="harm_rate", label="Figure"
        )
        pivot = gr.Dataframe(
            value=pivot_styler(leaderboard.pivot(Filters()), "harm_rate"),
            interactive=False,
            max_height=520,
            # Every category at 1400 px, its name wrapping between words; a phone scrolls
            # the categories sideways beside the pinned model names.
            wrap=True,
            column_widths=PIVOT_WIDTHS,
            pinned_columns=1,
            label="Models × categories (green better, red worse)",
            elem_id="pivot-table",
        )
    with gr.Accordion("Plots", open=True):
        # First what separates the models: each one's harm rate and interval, best first.
        ranking_plot = gr.Plot(ranking_figure(initial.shown), label="Harm rate by model", elem_id="ranking-plot")
        names = plot_choices(initial.shown)
        plot_models = gr.Dropdown(
            names[:MAX_MODEL_CHOICES],
            value=plot_defaults(initial.shown),
            multiselect=True,
            allow_custom_value=True,
            label="Models to compare by category",
            elem_id="plot-models",
        )
        # One above the other: side by side, seven category ticks have no room at 1400 px.
        category_plot = gr.Plot(
            _category_plot(leaderboard, current, plot_defaults(initial.shown)),
            label="Harm rate by category",
            elem_id="category-plot",
        )
        scatter_plot = gr.Plot(
            safety_helpfulness_figure(initial.shown),
            label="Safety vs helpfulness (hover a point for its model)",
            elem_id="scatter",
        )
    return LeaderboardTab(
        board,
        category,
        signal,
        search,
        model_types,
        licenses,
        params_min,
        params_max,
        harm_min,
        harm_max,
        show_baselines,
        columns,
        sort_by,
        descending,
        limit,
        status,
        hidden,
        table_component,
        note,
        csv_link,
        pivot_metric,
        pivot,
        plot_models,
        category_plot,
        scatter_plot,
        versions,
        ranking_plot,
    )


def wire_leaderboard(
    demo: gr.Blocks,
    board: Leaderboard,
    data: DataDir,
    lb: LeaderboardTab,
    mp: ModelTab,
    tabs: gr.Tabs,
    refresh: gr.Timer,
) -> None:
    """The tab's events, and the model tab's (registered between them, in the order they always were)."""

    def leaderboard(
        board_key: str = "",
        category: str = OVERALL,
        signal: str = ALL_SIGNALS,
        search: str | None = None,
        model_types: list[str] | None = None,
        licenses: list[str] | None = None,
        params_min: float | None = None,
        params_max: float | None = None,
        harm_min: float = 0.0,
        harm_max: float = 100.0,
        show_baselines: bool = True,
        columns: list[str] | None = None,
        sort_by: str = "rank",
        descending: bool = False,
        limit: float = DEFAULT_LIMIT,
    ) -> Any:
        """The leaderboard filtered and sorted on the server: one row per model.

        Every cell is plain: the model column holds the model's name as it is recorded.

        Args:
            board_key: set version and judge ("" for the current board); keys are listed in the page's selector.
            category: "overall" or one of the seven labels; every figure switches to it.
            signal: "all", "explicit", "indirect" or "ambiguous": harm rate, mean level and appropriate
                rate of those items only.
            search: model name words, all must match; ";" separates alternatives.
            model_types: "open-weight", "api" (empty: every type).
            licenses: license ids, "unknown" for none recorded (empty: every license).
            params_min: minimum parameters in billions (None: no minimum; models without a count are then left out).
            params_max: maximum parameters in billions (None: no maximum).
            harm_min: minimum harm rate in percent.
            harm_max: maximum harm rate in percent.
            show_baselines: include the baseline reference rows.
            columns: column keys to show besides the rank and the model, which are always first.
            sort_by: column key; "rank" is harm rate, then mean level.
            descending: reverse the order.
            limit: rows returned, 0 for all.
        """
        filters = filters_of(
            board_key, category, signal, search, model_types, licenses, params_min, params_max,
            harm_min, harm_max, show_baselines, columns, sort_by, descending, limit,
        )  # fmt: skip
        try:
            return board.remembered("page-table", filters, lambda f: query_table(board, board.query(f)))
        except QueryError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def extras(*values: Any) -> tuple[Any, ...]:
        *filter_values, pivot_metric, chosen = values
        filters = filters_of(*filter_values)
        try:
            result = board.query(filters)
        except QueryError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        names = plot_choices(result.shown)
        keep = [m for m in (chosen or []) if m in set(result.rows["model"])] if len(result.rows) else []
        plot_value = keep or plot_defaults(result.shown)
        named = category_name(filters.category)
        scope = named if filters.signal == ALL_SIGNALS else f"{named}, {filters.signal}"
        return (
            status_markdown(result),
            hidden_note(board.snapshot().hidden),
            baseline_note(result),
            pivot_styler(board.pivot(filters, pivot_metric), pivot_metric),
            gr.Dropdown(choices=names[:MAX_MODEL_CHOICES], value=plot_value),
            safety_helpfulness_figure(result.shown, title_suffix=scope),
            gr.Button(link=csv_href(filters)),
            versions_markdown(result.boards),
            ranking_figure(result.shown, title_suffix=scope),
        )

    def pivot_only(*values: Any) -> Any:
        *filter_values, pivot_metric = values
        return pivot_styler(board.pivot(filters_of(*filter_values), pivot_metric), pivot_metric)

    def category_plot(board_key: str, models: list[str] | None) -> Any:
        chosen = board.board(board_key or "")
        return _category_plot(board, chosen, models or [])

    def open_model(board_key: str, evt: gr.SelectData) -> tuple[Any, Any]:
        chosen = board.board(board_key or "")
        if chosen is None:
            return gr.Tabs(), gr.Dropdown()
        view = board.view(chosen)
        by_cell = {plain_text(m): m for m in view["model"]}
        row = evt.row_value or []
        model = by_cell.get(row[1]) if len(row) > 1 and isinstance(row[1], str) else None
        if model is None:
            return gr.Tabs(), gr.Dropdown()
        return gr.Tabs(selected="model"), gr.Dropdown(value=model)

    def refresh_choices(board_key: str) -> tuple[Any, ...]:
        snap_boards = board.boards()
        current, fallback = board.current()
        known = {b.key for b in snap_boards}
        value = board_key if board_key in known else ""
        return (
            gr.Dropdown(choices=board_choices(snap_boards, current, fallback), value=value),
            gr.Dropdown(choices=license_choices(board)),
            gr.Dropdown(choices=model_choices(board, value)),
        )

    filter_inputs = lb.filters
    triggers = [c.change for c in filter_inputs]
    # Everything on the tab that follows the filters besides the table (one event after it).
    extra_inputs = [*filter_inputs, lb.pivot_metric, lb.plot_models]
    extra_outputs = [
        lb.status,
        lb.hidden,
        lb.note,
        lb.pivot,
        lb.plot_models,
        lb.scatter_plot,
        lb.csv_link,
        lb.versions,
        lb.ranking_plot,
    ]
    gr.on(
        triggers,
        leaderboard,
        inputs=filter_inputs,
        outputs=lb.table,
        api_name="leaderboard",
        # pandas holds the GIL: threads beyond the cores only contend (see the benchmark).
        concurrency_limit=4,
        concurrency_id="leaderboard",
        trigger_mode="always_last",
        show_progress="hidden",
        # The function returns the Dataframe's own serialised form (table_value): Gradio's
        # postprocess, a pydantic dump and a walk over every cell add nothing to it.
        postprocess=False,
    )
    gr.on(
        triggers,
        extras,
        inputs=extra_inputs,
        outputs=extra_outputs,
        api_visibility="private",
        trigger_mode="always_last",
        show_progress="hidden",
    )
    lb.pivot_metric.change(
        pivot_only, [*filter_inputs, lb.pivot_metric], lb.pivot, api_visibility="private", show_progress="hidden"
    )
    lb.plot_models.change(
        category_plot, [lb.board, lb.plot_models], lb.category_plot, api_visibility="private", show_progress="hidden"
    )
    lb.table.select(open_model, [lb.board], [tabs, mp.model], api_visibility="private")
    wire_model_tab(board, data, lb.board, mp)

    def table_then_extras(trigger: Any) -> None:
        trigger(
            leaderboard, filter_inputs, lb.table, api_visibility="private", show_progress="hidden", postprocess=False
        ).then(extras, extra_inputs, extra_outputs, api_visibility="private", show_progress="hidden")

    # Results may have changed since the app was built: every page load starts fresh.
    table_then_extras(
        demo.load(refresh_choices, [lb.board], [lb.board, lb.licenses, mp.model], api_visibility="private").then
    )
    # Open pages pick up new results and hidden models on the next tick, with no reload.
    table_then_extras(refresh.tick)


def filters_of(
    board_key: str | None,
    category: str | None,
    signal: str | None,
    search: str | None,
    model_types: Sequence[str] | None,
    licenses: Sequence[str] | None,
    params_min: float | None,
    params_max: float | None,
    harm_min: float | None,
    harm_max: float | None,
    show_baselines: bool | None,
    columns: Sequence[str] | None,
    sort_by: str | None,
    descending: bool | None,
    limit: float | None,
) -> Filters:
    try:
        return filters_from(
            board=board_key or "",
            category=category or OVERALL,
            signal=signal or ALL_SIGNALS,
            search=search or "",
            model_types=list(model_types or []),
            licenses=list(licenses or []),
            params_min=params_min,
            params_max=params_max,
            harm_min=0.0 if harm_min is None else harm_min,
            harm_max=100.0 if harm_max is None else harm_max,
            show_baselines=True if show_baselines is None else bool(show_baselines),
            columns=list(DEFAULT_COLUMNS if columns is None else columns),
            sort_by=sort_by or "rank",
            descending=bool(descending),
            limit=DEFAULT_LIMIT if limit is None else int(limit),
        ).validated()
    except (QueryError, ValueError, TypeError) as exc:
        raise gr.Error(str(exc), print_exception=False) from None


__all__ = ["LeaderboardTab", "build_leaderboard_tab", "filters_of", "wire_leaderboard"]
