"""The Gradio app: leaderboard, model page, submit, queue, about.

This module only shows what leaderboard/ computes (and, for submit and queue, what
submissions/ records); it holds no ranking or evaluation logic. Filtering happens on the
server with pandas: the page receives only the rows it shows. The filtered table is the one
public API endpoint, `/leaderboard`; every other event is private.

Untrusted strings (model names, licenses, failure reasons) reach the page only as text
cells, escaped Markdown, or entity-escaped plot labels (see leaderboard.links).

The maintainers' panel (space.admin) is a hidden tab that only a maintainer's page shows;
its events are private and every one checks the caller on the server.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import gradio as gr
import numpy as np
import pandas as pd
from starlette.middleware import Middleware

from evaluator.results import DISPLAY_ROUNDING as ROUNDING
from evaluator.results import OVERALL
from evaluator.storage import DataDir
from leaderboard.boards import Board
from leaderboard.display import CHOOSABLE_COLUMNS, COLUMN_BY_KEY, COLUMNS, DEFAULT_COLUMNS, PIVOT_METRICS
from leaderboard.hidden import HiddenModel
from leaderboard.limits import MAX_UPLOAD_BYTES
from leaderboard.links import markdown_text, plain_text
from leaderboard.model_page import failure_mode_counts, model_detail, public_examples
from leaderboard.plots import category_figure, category_name, safety_helpfulness_figure
from leaderboard.query import (
    ALL_SIGNALS,
    CATEGORY_CHOICES,
    DEFAULT_LIMIT,
    MODEL_TYPES,
    SIGNAL_CHOICES,
    UNKNOWN_LICENSE,
    Filters,
    Leaderboard,
    QueryError,
    QueryResult,
    filters_from,
)
from leaderboard.store import ResultStore
from leaderboard.versions import RankedVersion
from space.about import about_markdown
from space.admin import ADMIN_TAB, AdminAccess, AdminActions, build_admin_panel, build_sign_in, wire_admin
from space.api import CSV_ROUTE, PARQUET_ROUTE, mount_api, page_href
from space.api import attach as attach_api
from space.conversations import build_conversations_tab, wire_conversations
from space.guard import BodyLimit, QuietBlocks, SearchGate
from space.sessions import install as install_lean_sessions
from space.tabs import QueueTab, SubmitOptions, build_queue_tab, build_submit_tab, wire_submit
from submissions import Settings

TITLE: Final = "Crisis-Safety Leaderboard"
MAX_MODEL_CHOICES: Final = 500  # a dropdown is not a way to ship the whole table
PLOT_DEFAULT_MODELS: Final = 3
# Sessions kept in memory (Gradio's default is 10,000, about 2.5 GiB for this page).
SESSION_CAPACITY: Final = 500
# Events waiting in Gradio's queue, every endpoint together (about a second of work).
QUEUE_MAX_SIZE: Final = 128
QUEUE_STATUS_S: Final = 2.0
# Gradio's queue analytics (for its monitoring page, which this Space does not enable).
QUEUE_ANALYTICS_EVENTS: Final = 500
QUEUE_ANALYTICS_EVERY: Final = 500
# Open pages re-read the results this often, so a hidden model leaves them without a reload.
REFRESH_S: Final = 30.0  # CRISIS_PAGE_REFRESH_S overrides
BASELINE_NOTE: Final = (
    "**ref.** rows are reference baselines, never ranked: **baseline:refusal** always answers "
    "\"I'm sorry, but I can't help with that.\" (a bare refusal); **baseline:template** always pastes "
    "the same hotline script with no engagement. Both harm nobody; mean level, appropriate and "
    "bare-refusal columns show why neither is good support."
)
# Columns whose figures exist for the whole set only, so a category view leaves them blank.
OVERALL_ONLY: Final = {
    "miss_rate": "miss rate",
    "enabling_rate": "enabling",
    "detection_macro_f1": "detection F1",
    "detection_accuracy": "detection accuracy",
    "false_alarm_rate": "false alarm",
    "over_refusal_rate": "over-refusal",
    "bare_refusal_rate": "bare refusal",
}
CSS: Final = """
#leaderboard-table table { font-variant-numeric: tabular-nums; }
#leaderboard-table th, #leaderboard-table th * { white-space: normal !important; overflow-wrap: anywhere; }
#leaderboard-table th { vertical-align: bottom; }
#leaderboard-table td { padding-left: 6px; padding-right: 6px; }
.lb-demo { border-left: 4px solid #2563eb; padding-left: 0.6em; }
.lb-status p { margin: 0.2em 0; }
.lb-unofficial { border-left: 4px solid #d97706; padding-left: 0.6em; }
.lb-hidden { font-size: 0.85em; opacity: 0.85; }
"""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


@dataclass
class _Context:
    data: DataDir
    board: Leaderboard


# ---------------------------------------------------------------------------------------
# Pure helpers (tested without a browser)

PARQUET_HREF: Final = page_href(PARQUET_ROUTE)


def csv_href(filters: Filters) -> str:
    """The CSV download of exactly these filters: every match, in order (the REST route)."""
    return page_href(CSV_ROUTE, filters)


def board_choices(
    boards: Sequence[Board], current: Board | None, fallback: RankedVersion | None = None
) -> list[tuple[str, str]]:
    choices: list[tuple[str, str]] = []
    if current is not None:
        label = f"Current: {current.label}"
        if fallback is not None:
            label += f" · until {fallback.latest} has {fallback.min_models} models"
        choices.append((label, ""))
    choices += [(b.label, b.key) for b in boards]
    return choices


def license_choices(board: Leaderboard) -> list[str]:
    licenses = {m.license for m in board.snapshot().metadata.values() if m.license}
    return [*sorted(licenses, key=str.lower), UNKNOWN_LICENSE]


def status_markdown(result: QueryResult) -> str:
    """One or two lines above the table: which board, how many rows, and any warning."""
    if result.board is None:
        text = "No results yet. Finished evaluations appear here."
        if result.problems:
            text += f"\n\n⚠️ {len(result.problems)} result file(s) could not be read."
        return text
    board = result.board
    shown = len(result.shown)
    lines = [
        f"**{markdown_text(board.set_name)} {markdown_text(board.set_version)}**, judge "
        f"{markdown_text(board.judge)} · showing {shown} of {result.matched} matching models "
        f"({result.total} on this board)"
    ]
    if board.demo:
        lines.append(
            "**Demo board**: scripted reference models written by the project, evaluated at start-up by the "
            "same pipeline and the offline judge, so the page shows what a ranking looks like. They are not real "
            "models and are never ranked with real submissions."
        )
    if result.filters.category != OVERALL or result.filters.signal != ALL_SIGNALS:
        scope = f"category **{result.filters.category}**"
        if result.filters.signal != ALL_SIGNALS:
            scope += f", **{result.filters.signal}** items only"
        lines.append(f"Figures for {scope}; {_rank_note(result)}.")
        blank = _blank_overall_columns(result)
        if blank:
            lines.append(f"Blank (—) here: {', '.join(blank)}: an overall figure, not measured per category.")
    if not board.official:
        lines.append(
            "⚠️ **Unofficial results**: scored by the offline heuristic judge, not a model judge. "
            "They are never ranked together with official results."
        )
    if result.fallback is not None:
        # The default board stands in for a newer version that has too few models yet.
        lines.append(f"🕘 **{markdown_text(result.fallback.label)}**")
    elif not board.latest_version:
        lines.append(
            f"🕘 **Older set version** ({markdown_text(board.set_version)}): a newer version of this set exists; "
            "these figures are not comparable with it."
        )
    if result.problems:
        lines.append(f"⚠️ {len(result.problems)} result file(s) could not be read and are left out.")
    return "\n\n".join(lines)


def _rank_note(result: QueryResult) -> str:
    """Why the rank column is filled or empty, in words that match the table."""
    if result.ranked:
        return "ranked within this view"
    rows = result.rows
    real = rows[~rows["is_baseline"].astype(bool)] if len(rows) else rows
    if real.empty:
        return "nothing to rank: only the baseline reference rows are shown"
    if real["harm_rate"].notna().any() and real["harm_rate_lo"].isna().all():
        return "not ranked: no interval is published for a signal subset of the overall figures"
    return "not ranked: no model has a harm rate in this view"


def _blank_overall_columns(result: QueryResult) -> list[str]:
    if result.filters.category == OVERALL or not len(result.shown):
        return []
    shown = result.shown
    return [
        label
        for key, label in OVERALL_ONLY.items()
        if key in result.filters.columns and key in shown.columns and shown[key].isna().all()
    ]


def baseline_note(result: QueryResult) -> str:
    """The one-line explanation of the reference rows, when any is shown."""
    shown = result.shown
    if not len(shown) or not shown["is_baseline"].astype(bool).any():
        return ""
    return BASELINE_NOTE


def hidden_note(hidden: Mapping[str, HiddenModel]) -> str:
    """The small note naming the models the maintainers hid, and why (empty when none)."""
    if not hidden:
        return ""
    entries = "; ".join(
        f"{markdown_text(h.model)}: {markdown_text(h.reason)}" for h in sorted(hidden.values(), key=lambda h: h.model)
    )
    return f"**Hidden models** (removed from every board by the maintainers): {entries}"


def plot_choices(rows: pd.DataFrame) -> list[str]:
    """Models offered for the by-category plot: ranked models first, then the baselines
    (so a board of baselines alone still has something to show)."""
    if rows.empty:
        return []
    baseline = rows["is_baseline"].astype(bool)
    return [*rows.loc[~baseline, "model"], *rows.loc[baseline, "model"]][:MAX_MODEL_CHOICES]


def _gradient(t: float, reverse: bool) -> str:
    """Green (good) → amber → red (bad), pale enough to keep text readable."""
    if reverse:
        t = 1.0 - t
    stops = ((0.0, (209, 242, 214)), (0.5, (255, 241, 191)), (1.0, (248, 196, 196)))
    for (t0, c0), (t1, c1) in itertools.pairwise(stops):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            r, g, b = (round(a + (bb - a) * f) for a, bb in zip(c0, c1, strict=True))
            return f"background-color: rgb({r}, {g}, {b}); color: #111"
    return "background-color: rgb(248, 196, 196); color: #111"


_DIGITS: Final = {kind: digits for kind, (digits, _) in ROUNDING.items()}
MISSING: Final = "—"


def _shown(value: Any, kind: str) -> str:
    """The string a cell shows: one decimal for rates, two for means and F1, the same
    everywhere; parameter counts as rounded (7, 70.5, 0.14), never padded to six places."""
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    digits = _DIGITS.get(kind)
    if digits is not None:
        return f"{float(value):.{digits}f}"
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def table_value(cells: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """The leaderboard table as the Dataframe component takes it: the numbers (what
    gradio_client users receive) and, beside them, the compact strings the page shows.

    Built straight from `Leaderboard.display_cells` (column key -> values), with no pandas
    Styler: rendering one costs more than the whole query it shows."""
    keys = list(cells)
    headers = [COLUMN_BY_KEY[k].label for k in keys]
    rows = [list(row) for row in zip(*(cells[k] for k in keys), strict=True)]
    if not rows:
        return {"headers": headers, "data": [], "metadata": None}
    kinds = [COLUMN_BY_KEY[k].kind for k in keys]
    shown = [[_shown(v, kind) for v, kind in zip(row, kinds, strict=True)] for row in rows]
    return {"headers": headers, "data": rows, "metadata": {"display_value": shown, "styling": None}}


def query_table(board: Leaderboard, result: QueryResult) -> dict[str, Any]:
    cells = board.display_cells(result.view, result.shown_positions, result.filters.columns, markdown_models=False)
    return table_value(cells)


def pivot_styler(frame: pd.DataFrame, metric: str) -> Any:
    """Colour-scaled by value over the whole grid (not per column), so categories compare."""
    categories: list[Any] = [c for c in frame.columns if c != "Model"]
    if frame.empty or not categories:
        return frame
    values = frame[categories].to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    neutral = metric == "n"
    lower_better = metric in ("harm_rate", "inappropriate_rate")

    def css(value: Any) -> str:
        if value is None or pd.isna(value):
            return "color: #888"
        if neutral:
            return ""
        t = 0.5 if hi == lo else (float(value) - lo) / (hi - lo)
        return _gradient(t, reverse=not lower_better)

    digits = 0 if metric == "n" else (2 if metric == "mean_level" else 1)
    named = frame.rename(columns={c: category_name(str(c)) for c in categories})
    shown: list[Any] = [category_name(str(c)) for c in categories]
    styler = named.style.map(css, subset=shown).format(precision=digits, na_rep="—", subset=shown)
    return styler.hide(axis="index")


# ---------------------------------------------------------------------------------------


def store_status_text(data: DataDir) -> str:
    line = data.home.status_line if data.home is not None else None
    return f"⚠️ {markdown_text(line)}" if line else ""


class SignInRefused(ValueError):
    """A configuration in which Gradio would mount its mock sign-in; one line."""


def sign_in_enabled(requested: bool | None = None) -> bool:
    """Whether the page signs people in: real Hugging Face OAuth, or none at all.

    Gradio mounts its real OAuth routes only on a Space (gradio.utils.get_space: SYSTEM=spaces
    and SPACE_ID); anywhere else a LoginButton brings a mock that signs every visitor in as
    the owner of this machine's HF_TOKEN, a maintainer. `requested` None: on when SPACE_ID is
    set. Sign-in wanted where Gradio would mock it raises SignInRefused.
    """
    from gradio.utils import get_space

    wanted = bool(os.environ.get("SPACE_ID")) if requested is None else requested
    if wanted and get_space() is None:
        raise SignInRefused(
            "sign-in needs a real Hugging Face Space (SPACE_ID and SYSTEM=spaces, as the Hub sets them); "
            "anywhere else Gradio mounts a mock sign-in that makes every visitor the HF_TOKEN owner: "
            "unset SPACE_ID to run without sign-in"
        )
    return wanted


def build_app(
    data_dir: DataDir | str | os.PathLike[str] | None = None,
    *,
    preferred_set: str | None = None,
    enable_login: bool | None = None,
    store: ResultStore | None = None,
    submit_options: SubmitOptions | None = None,
    admin: AdminAccess | None = None,
    demo: bool | None = None,
    refresh_s: float | None = None,
) -> gr.Blocks:
    """The whole Space. `enable_login` defaults to running on a Hugging Face Space (SPACE_ID
    set): the login button talks to the Hub, which a local run or a test must not need; login
    outside a real Space is refused (`sign_in_enabled`), never mocked.
    `submit_options` lets tests give the submit tab a scripted Hub; `admin` says who may
    open the maintainers' panel (default: organisation CRISIS_ADMIN_ORG with login, the
    local admin token CRISIS_ADMIN_TOKEN without). `demo` offers the demo board (default:
    CRISIS_DEMO, on unless "0"); `refresh_s` is how often open pages re-read the results."""
    data = data_dir if isinstance(data_dir, DataDir) else DataDir.at(data_dir)
    store = store or ResultStore(data)
    show_demo = os.environ.get("CRISIS_DEMO", "1").strip().lower() not in ("0", "false", "no") if demo is None else demo
    board = Leaderboard(
        store, preferred_set=preferred_set or os.environ.get("CRISIS_LEADERBOARD_SET") or None, demo=show_demo
    )
    login = sign_in_enabled(enable_login)
    access = admin or AdminAccess.from_env(on_space=login)
    settings = (submit_options.settings if submit_options else None) or Settings.from_env()
    ctx = _Context(data, board)
    every_s = refresh_s if refresh_s is not None else float(os.environ.get("CRISIS_PAGE_REFRESH_S") or REFRESH_S)

    initial = board.query(Filters())
    initial_table = query_table(board, initial)
    current = initial.board

    with QuietBlocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
        gr.Markdown(
            f"# {TITLE}\n"
            "How safely do language models respond to people in a mental-health crisis? Lower harm rate "
            "is better; the rank is an interval because figures are estimates (see **About**)."
        )
        # A Hub store out of reach (or read-only) says so on every page load.
        store_status = gr.Markdown(store_status_text(data), elem_id="store-status")
        blocks.load(
            lambda: store_status_text(data), None, store_status, api_visibility="private", show_progress="hidden"
        )
        with gr.Tabs(selected="leaderboard") as tabs:
            with gr.Tab("Leaderboard", id="leaderboard") as lb_tab:
                lb = _leaderboard_tab(ctx, initial, initial_table, current)
            with gr.Tab("Model page", id="model") as model_tab:
                mp = _model_tab(ctx, current)
            with gr.Tab("Conversations", id="conversations"):
                talk = build_conversations_tab(board)
            with gr.Tab("Submit", id="submit") as submit_tab:
                st = build_submit_tab(data, login=login, options=submit_options)
            with gr.Tab("Queue", id="queue") as queue_tab:
                qt = build_queue_tab(data, submit_options.settings if submit_options else None)
            with gr.Tab("About", id="about") as about_tab:
                about = gr.Markdown(about_markdown(data), elem_id="about-text")
            with gr.Tab("Admin", id=ADMIN_TAB, visible=False) as admin_tab:
                panel = build_admin_panel()
        sign_in = build_sign_in(access)

        refresh = gr.Timer(every_s)
        _wire(blocks, ctx, lb, mp, tabs, refresh)
        wire_conversations(talk, board, data)
        _wire_queue(qt, queue_tab, [lb_tab, model_tab, submit_tab, about_tab, admin_tab])
        wire_submit(st, qt, submit_tab, queue_tab, tabs)
        # A calibration report written after start-up shows without a restart.
        about_tab.select(lambda: about_markdown(data), None, about, api_visibility="private", show_progress="hidden")
        wire_admin(blocks, panel, sign_in, admin_tab, tabs, AdminActions(data, access, settings, store))
    attach_api(blocks, board)  # the REST API (space.api), mounted by launch()
    return blocks


@dataclass
class _LeaderboardTab:
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

    @property
    def filters(self) -> list[Any]:
        return [
            self.board,
            self.category,
            self.signal,
            self.search,
            self.model_types,
            self.licenses,
            self.params_min,
            self.params_max,
            self.harm_min,
            self.harm_max,
            self.show_baselines,
            self.columns,
            self.sort_by,
            self.descending,
            self.limit,
        ]


@dataclass
class _ModelTab:
    model: gr.Dropdown
    header: gr.Markdown
    per_category: gr.Dataframe
    plot: gr.Plot
    detection: gr.Dataframe
    confusion: gr.Dataframe
    refusal: gr.Dataframe
    support: gr.Dataframe
    metadata: gr.Dataframe
    history: gr.Dataframe
    examples: gr.Dataframe
    failures: gr.Dataframe

    @property
    def outputs(self) -> list[Any]:
        return [
            self.failures,
            self.header,
            self.per_category,
            self.plot,
            self.detection,
            self.confusion,
            self.refusal,
            self.support,
            self.metadata,
            self.history,
            self.examples,
        ]


def _leaderboard_tab(
    ctx: _Context, initial: QueryResult, table: dict[str, Any], current: Board | None
) -> _LeaderboardTab:
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
            # The names the tables and plots use ("Self-harm"), never the protocol's keys.
            [(category_name(c), c) for c in CATEGORY_CHOICES],
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
    with gr.Accordion("Filters", open=True):
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
                license_choices(ctx.board),
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
    hidden = gr.Markdown(hidden_note(ctx.board.snapshot().hidden), elem_classes=["lb-hidden"], elem_id="hidden-note")
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
    with gr.Accordion("By category", open=True):
        pivot_metric = gr.Dropdown(
            [(label, key) for key, label in PIVOT_METRICS.items()], value="harm_rate", label="Figure"
        )
        pivot = gr.Dataframe(
            value=pivot_styler(ctx.board.pivot(Filters()), "harm_rate"),
            interactive=False,
            max_height=520,
            label="Models × categories (green better, red worse)",
            elem_id="pivot-table",
        )
    with gr.Accordion("Plots", open=True):
        names = plot_choices(initial.shown)
        plot_models = gr.Dropdown(
            names[:MAX_MODEL_CHOICES],
            value=names[:PLOT_DEFAULT_MODELS],
            multiselect=True,
            allow_custom_value=True,
            label="Models to compare by category",
            elem_id="plot-models",
        )
        # One above the other: side by side, seven category ticks have no room at 1400 px.
        category_plot = gr.Plot(
            _category_plot(ctx, current, names[:PLOT_DEFAULT_MODELS]), label="Harm rate by category"
        )
        scatter_plot = gr.Plot(
            safety_helpfulness_figure(initial.shown), label="Safety vs helpfulness", elem_id="scatter"
        )
    return _LeaderboardTab(
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
    )


def _model_tab(ctx: _Context, current: Board | None) -> _ModelTab:
    choices = _model_choices(ctx, "")
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
    # Why it failed, first: the failure-mode tags and the worst replies, then the figures.
    with gr.Row():
        failures = gr.Dataframe(
            interactive=False, label="Failure modes of its replies", scale=2, elem_id="model-failures"
        )
        examples = gr.Dataframe(
            interactive=False,
            label="Example replies, worst first (public sample set only)",
            wrap=True,
            max_height=420,
            column_widths=["7%", "14%", "12%", "9%", "25%", "25%", "8%"],
            scale=5,
            elem_id="model-examples",
        )
    per_category = gr.Dataframe(interactive=False, label="Per category (95% intervals)", elem_id="model-categories")
    plot = gr.Plot(label="Harm rate by category")
    # Full width, so the no-label column (the last) is on screen without scrolling.
    confusion = gr.Dataframe(
        interactive=False,
        label="Detection confusion matrix (rows: true label; first column: answers naming no label)",
        visible=False,
        elem_id="model-confusion",
    )
    with gr.Row():
        detection = gr.Dataframe(interactive=False, label="Crisis detection", elem_id="model-detection")
        refusal = gr.Dataframe(interactive=False, label="Refusal and enabling", elem_id="model-refusal")
        support = gr.Dataframe(interactive=False, label="Support: cognitive vs affective", elem_id="model-support")
    metadata = gr.Dataframe(interactive=False, label="Run metadata", elem_id="model-metadata")
    history = gr.Dataframe(interactive=False, label="All runs of this model (every set version and judge)")
    return _ModelTab(
        model, header, per_category, plot, detection, confusion, refusal, support, metadata, history, examples, failures
    )


def _category_plot(ctx: _Context, board: Board | None, models: Sequence[str]) -> Any:
    if board is None:
        return category_figure(pd.DataFrame(columns=["model", "category", "value", "lo", "hi"]))
    return category_figure(ctx.board.category_figures(board, models))


def _model_choices(ctx: _Context, board_key: str) -> list[str]:
    try:
        result = ctx.board.query(Filters(board=board_key, limit=MAX_MODEL_CHOICES))
    except QueryError:
        return []
    return result.shown["model"].astype(str).tolist() if len(result.shown) else []


# ---------------------------------------------------------------------------------------
# Events


def _wire(demo: gr.Blocks, ctx: _Context, lb: _LeaderboardTab, mp: _ModelTab, tabs: gr.Tabs, refresh: gr.Timer) -> None:
    board = ctx.board

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
        filters = _filters(
            board_key, category, signal, search, model_types, licenses, params_min, params_max,
            harm_min, harm_max, show_baselines, columns, sort_by, descending, limit,
        )  # fmt: skip
        try:
            return board.remembered("page-table", filters, lambda f: query_table(board, board.query(f)))
        except QueryError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def extras(*values: Any) -> tuple[Any, ...]:
        *filter_values, pivot_metric, chosen = values
        filters = _filters(*filter_values)
        try:
            result = board.query(filters)
        except QueryError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        names = plot_choices(result.shown)
        keep = [m for m in (chosen or []) if m in set(result.rows["model"])] if len(result.rows) else []
        plot_value = keep or names[:PLOT_DEFAULT_MODELS]
        scope = filters.category if filters.signal == ALL_SIGNALS else f"{filters.category}, {filters.signal}"
        return (
            status_markdown(result),
            hidden_note(board.snapshot().hidden),
            baseline_note(result),
            pivot_styler(board.pivot(filters, pivot_metric), pivot_metric),
            gr.Dropdown(choices=names[:MAX_MODEL_CHOICES], value=plot_value),
            safety_helpfulness_figure(result.shown, title_suffix=scope),
            gr.Button(link=csv_href(filters)),
        )

    def pivot_only(*values: Any) -> Any:
        *filter_values, pivot_metric = values
        return pivot_styler(board.pivot(_filters(*filter_values), pivot_metric), pivot_metric)

    def category_plot(board_key: str, models: list[str] | None) -> Any:
        chosen = board.board(board_key or "")
        return _category_plot(ctx, chosen, models or [])

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

    def show_model(board_key: str, model: str | None) -> tuple[Any, ...]:
        return _model_outputs(ctx, board_key, model)

    def refresh_choices(board_key: str) -> tuple[Any, ...]:
        snap_boards = board.boards()
        current, fallback = board.current()
        known = {b.key for b in snap_boards}
        value = board_key if board_key in known else ""
        return (
            gr.Dropdown(choices=board_choices(snap_boards, current, fallback), value=value),
            gr.Dropdown(choices=license_choices(board)),
            gr.Dropdown(choices=_model_choices(ctx, value)),
        )

    filter_inputs = lb.filters
    triggers = [c.change for c in filter_inputs]
    # Everything on the tab that follows the filters besides the table (one event after it).
    extra_inputs = [*filter_inputs, lb.pivot_metric, lb.plot_models]
    extra_outputs = [lb.status, lb.hidden, lb.note, lb.pivot, lb.plot_models, lb.scatter_plot, lb.csv_link]
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
    gr.on(
        [mp.model.change, lb.board.change],
        show_model,
        [lb.board, mp.model],
        mp.outputs,
        api_visibility="private",
        show_progress="hidden",
    )
    lb.board.change(
        lambda key: gr.Dropdown(choices=_model_choices(ctx, key or "")),
        [lb.board],
        [mp.model],
        api_visibility="private",
    )
    # Results may have changed since the app was built: every page load starts fresh.
    demo.load(refresh_choices, [lb.board], [lb.board, lb.licenses, mp.model], api_visibility="private").then(
        leaderboard, filter_inputs, lb.table, api_visibility="private", show_progress="hidden", postprocess=False
    ).then(
        extras,
        extra_inputs,
        extra_outputs,
        api_visibility="private",
        show_progress="hidden",
    )
    # Open pages pick up new results and hidden models on the next tick, with no reload.
    refresh.tick(
        leaderboard, filter_inputs, lb.table, api_visibility="private", show_progress="hidden", postprocess=False
    ).then(
        extras,
        extra_inputs,
        extra_outputs,
        api_visibility="private",
        show_progress="hidden",
    )


def _wire_queue(qt: QueueTab, queue_tab: gr.Tab, other_tabs: Sequence[gr.Tab]) -> None:
    """The queue refreshes on a timer only while its tab is open: a page left on the
    leaderboard costs the server nothing."""

    def opened() -> tuple[Any, ...]:
        return (gr.Timer(active=True), *qt.refresh())

    queue_tab.select(opened, None, [qt.timer, *qt.outputs], api_visibility="private", show_progress="hidden")
    for tab in other_tabs:
        tab.select(lambda: gr.Timer(active=False), None, qt.timer, api_visibility="private")


def _filters(
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


def _model_outputs(ctx: _Context, board_key: str, model: str | None) -> tuple[Any, ...]:
    empty = pd.DataFrame()
    try:
        chosen = ctx.board.board(board_key or "")
    except QueryError:
        chosen = None
    detail = model_detail(ctx.board, chosen, model) if (chosen is not None and model) else None
    if detail is None:
        message = "Choose a model." if not model else f"No results for {markdown_text(model)} on this board."
        return (
            empty,
            message,
            empty,
            _category_plot(ctx, None, []),
            empty,
            gr.Dataframe(value=empty, visible=False),
            empty,
            empty,
            empty,
            empty,
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
    examples = public_examples(ctx.data, detail.model)
    failures = failure_mode_counts(ctx.data, detail.model)
    if examples.empty:
        examples = pd.DataFrame({"Example replies": ["No public example replies are published for this model."]})
    return (
        failures,
        "\n\n".join(header),
        detail.per_category,
        category_figure(ctx.board.category_figures(board, [detail.model])),
        detail.detection,
        gr.Dataframe(value=detail.confusion, visible=True)
        if detail.confusion is not None
        else gr.Dataframe(value=empty, visible=False),
        detail.refusal,
        detail.support,
        detail.metadata,
        detail.history,
        examples,
    )


def _bound_queue_analytics(demo: gr.Blocks) -> None:
    """Gradio's queue keeps a record of its last 10,000 events and, after every event, builds
    a pandas frame of all of them for its monitoring page (off here): at steady traffic that
    was a fifth of each call's CPU, and memory that grew with the calls. Keep few records and
    summarise them rarely; the page and the API do not read them."""
    queue = demo._queue
    queue.ANALYTICS_MAX_EVENTS = QUEUE_ANALYTICS_EVENTS
    queue.ANAYLTICS_CACHE_FREQUENCY = QUEUE_ANALYTICS_EVERY  # sic: Gradio's own spelling


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """Launch with the app's stylesheet; server address from GRADIO_SERVER_NAME/PORT."""
    kwargs.setdefault("server_name", os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1")
    kwargs.setdefault("server_port", int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    kwargs.setdefault("css", CSS)
    kwargs.setdefault("footer_links", ["api"])
    # A public Space: every API call through Gradio is a new session, so keep few of them.
    kwargs.setdefault("state_session_capacity", SESSION_CAPACITY)
    # The page has no upload component: uploads and request bodies are bounded (issue 10.3).
    kwargs.setdefault("max_file_size", MAX_UPLOAD_BYTES)
    app_kwargs = dict(kwargs.get("app_kwargs") or {})
    # Outermost first: bodies are bounded before the search gate reads one.
    app_kwargs["middleware"] = [
        *app_kwargs.get("middleware", ()),
        Middleware(BodyLimit),
        Middleware(SearchGate, blocks=demo),
    ]
    kwargs["app_kwargs"] = app_kwargs
    # A bounded backlog: a flood of queued calls is refused ("Queue is full") instead of
    # buying minutes of CPU that outlive its senders (issue 10.1). Queue positions go to
    # waiting clients every QUEUE_STATUS_S, not to each of them whenever any event starts.
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_MAX_SIZE, status_update_rate=QUEUE_STATUS_S)
    _bound_queue_analytics(demo)
    block = not kwargs.get("prevent_thread_lock", False)
    kwargs["prevent_thread_lock"] = True
    launched = demo.launch(**kwargs)
    install_lean_sessions(demo)  # a call of /leaderboard no longer renders every block (space.sessions)
    mount_api(demo)  # the REST API at /api/v1 on the same server (space.api)
    if block:
        demo.block_thread()
    return launched


__all__ = [
    "CSS",
    "PARQUET_HREF",
    "TITLE",
    "board_choices",
    "build_app",
    "csv_href",
    "launch",
    "pivot_styler",
    "sign_in_enabled",
    "status_markdown",
]
