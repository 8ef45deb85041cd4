"""What the leaderboard page says and shows, as plain values: the status lines above the table,
the notes, the table's cells, the by-category grid's colours and the choices of its dropdowns.

Pure helpers, tested without a browser; the tabs (space.leaderboard_tab, space.model_tab) put
them into components. Untrusted strings (model names, licenses, reasons) leave here only as
escaped Markdown or plain text cells (see leaderboard.links).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from evaluator.results import DISPLAY_ROUNDING as ROUNDING
from evaluator.results import OVERALL
from leaderboard.boards import Board
from leaderboard.display import COLUMN_BY_KEY
from leaderboard.hidden import HiddenModel
from leaderboard.links import markdown_text
from leaderboard.plots import category_name
from leaderboard.query import ALL_SIGNALS, CATEGORY_CHOICES, UNKNOWN_LICENSE, Filters, Leaderboard, QueryResult
from leaderboard.versions import RankedVersion
from space.api import CSV_ROUTE, PARQUET_ROUTE, page_href

MAX_MODEL_CHOICES: Final = 500  # a dropdown is not a way to ship the whole table
PLOT_DEFAULT_MODELS: Final = 3
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


def category_choices() -> list[tuple[str, str]]:
    """Overall and the seven categories as (shown name, key): the names the tables and plots use
    ("Self-harm"); the values stay the protocol's keys, which the API and links take."""
    return [(category_name(c), c) for c in CATEGORY_CHOICES]


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
        f"({result.total} on this board)",
        _updated_line(board),
    ]
    if result.total and not result.matched:
        lines.append(
            f"**No model matches these filters.** To see all {result.total} again: empty the search box, untick "
            "every model type, clear License and the parameter bounds, set the harm sliders to 0 and 100 and tick "
            "Show baselines (or reload the page)."
        )
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


def _updated_line(board: Board) -> str:
    when = "never" if board.last_evaluated is None else f"{board.last_evaluated:%Y-%m-%d %H:%M} UTC"
    return (
        f"Last updated {when} · {board.ranked_models} models besides the baselines · protocol version "
        f"{markdown_text(board.protocol_version or '?')}"
    )


# What each protocol version changed (PROTOCOL.md's preamble, shortened): figures of different
# versions are never ranked together, so a reader needs to know why.
PROTOCOL_CHANGES: Final[tuple[tuple[str, str], ...]] = (
    (
        "3",
        "unscored replies counted against a model on every rate; worst-case upper interval arm; "
        "conversation and log-audit tracks on boards of their own",
    ),
    ("2", "the `unknown` signal; MOVER-Wilson overall intervals; unscored replies widen upper bounds"),
    ("1", "first protocol"),
)


def versions_markdown(boards: Sequence[Board]) -> str:
    """The changelog under the table: every set version and judge with results, newest first,
    then what each protocol version changed."""
    lines = ["| Set | Version | Protocol | Judge | Models | Last updated |", "|---|---|---|---|---|---|"]
    newest = sorted(
        boards, key=lambda b: (b.last_evaluated is not None, b.last_evaluated or pd.Timestamp(0)), reverse=True
    )
    for b in newest:
        when = "—" if b.last_evaluated is None else f"{b.last_evaluated:%Y-%m-%d}"
        cells = [b.set_name, b.set_version, b.protocol_version or "?", b.judge, str(b.models), when]
        lines.append("| " + " | ".join(markdown_text(c) for c in cells) + " |")
    if not boards:
        lines = ["No results yet."]
    lines.append("")
    lines += [f"- **Protocol {v}**: {text}." for v, text in PROTOCOL_CHANGES]
    return "\n".join(lines)


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


N_NOTE: Final = (
    "**Items scored** counts the support items the judge scored, the ones behind the harm, mean-level and "
    "appropriate figures; adversarial items count only towards **Enabling %**."
)
# The reference rows, set apart below the ranked ones in the table.
BASELINE_ROW_STYLE: Final = "background: #f3f4f6; color: #4b5563; font-style: italic"


def baseline_note(result: QueryResult) -> str:
    """The notes under the table: what `Items scored` counts and, when shown, the reference rows."""
    shown = result.shown
    if not len(shown):
        return ""
    notes = [N_NOTE] if "n" in result.filters.columns else []
    if shown["is_baseline"].astype(bool).any():
        notes.insert(0, BASELINE_NOTE)
    return "\n\n".join(notes)


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


def plot_defaults(rows: pd.DataFrame, count: int = PLOT_DEFAULT_MODELS) -> list[str]:
    """The by-category plot's first models: spread over the ranking (best, middle, worst),
    so the default plot shows contrast rather than the top three's shared zero bars."""
    names = plot_choices(rows)
    real = int((~rows["is_baseline"].astype(bool)).sum()) if len(rows) else 0
    pool = names[:real] if real >= count else names
    if len(pool) <= count:
        return pool[:count]
    return [pool[round(i * (len(pool) - 1) / (count - 1))] for i in range(count)]


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
    """The table of a query; in rank order the baselines come after every ranked model, greyed."""
    positions = result.shown_positions
    baseline = result.view["is_baseline"].to_numpy(dtype=bool)[positions] if len(positions) else np.zeros(0, bool)
    apart = result.filters.sort_by == "rank" and not result.filters.descending
    if apart:
        positions = np.concatenate([positions[~baseline], positions[baseline]])
        baseline = np.concatenate([baseline[~baseline], baseline[baseline]])
    value = table_value(board.display_cells(result.view, positions, result.filters.columns, markdown_models=False))
    if value["metadata"] is not None and baseline.any():
        width = len(value["headers"])
        value["metadata"]["styling"] = [[BASELINE_ROW_STYLE if b else ""] * width for b in baseline]
    return value


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
