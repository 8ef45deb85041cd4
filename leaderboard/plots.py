"""Plotly figures: harm rate by category with intervals, and safety against helpfulness.

Plotly reads a few HTML-like tags in trace names and hover text, so every model name is
entity-escaped before it reaches a figure: a hostile name shows as its literal text.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from leaderboard.links import html_text

_MAX_SCATTER: Final = 5000  # more points than this say nothing more and slow the browser
_TYPE_SYMBOLS: Final = {"open-weight": "circle", "api": "diamond", "baseline": "x", "demo": "square"}
_MAX_LABELS: Final = 40  # beyond this many points, names are in the hover text only
# Human names for the category axis, two short lines each so the ticks never overlap.
CATEGORY_NAMES: Final = {
    "overall": "Overall",
    "suicidal_ideation": "Suicidal<br>ideation",
    "self_harm": "Self-harm",
    "anxiety_crisis": "Anxiety<br>crisis",
    "violent_thoughts": "Violent<br>thoughts",
    "substance_abuse_or_withdrawal": "Substance use /<br>withdrawal",
    "risk_taking_behaviours": "Risk-taking<br>behaviours",
    "no_crisis": "No crisis",
}
# Where a point's name may go, tried in turn; a name that fits nowhere is in the hover text only.
_POSITIONS: Final = ("top right", "bottom right", "middle right", "top center", "top left", "bottom left")
# The scatter's geometry on the narrowest page (a 390 px phone): labels that clear each other
# and the axes there clear them on any wider page too, where points only move further apart.
_SCATTER_HEIGHT: Final = 480
_SCATTER_MARGIN: Final = {"l": 56, "r": 12, "t": 94, "b": 100}
_PHONE_PLOT_WIDTH: Final = 210.0  # px inside the axes at 390 px, the page's paddings taken off
_CHAR_PX: Final = 6.6  # an 11 px label's average character width, rounded up
_LINE_PX: Final = 15.0
_GAP_PX: Final = 6.0  # from the point's centre to its label
# Titles are short (a phone's plot is 300 px wide); the detail goes in a smaller subtitle.
_SUBTITLE_CHARS: Final = 40
_BADGE_PX: Final = 30
_LEGEND_BELOW: Final = {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0}

Box = tuple[float, float, float, float]  # left, top, right, bottom in px, y downwards


def category_name(category: str) -> str:
    """The category as a reader names it, on one line."""
    return CATEGORY_NAMES.get(category, category.replace("_", " ")).replace("<br>", " ")


def _title(text: str, detail: str) -> tuple[dict[str, object], int]:
    """A short title over a smaller subtitle, the subtitle wrapped between words to a phone's
    width; and the top margin they need."""
    lines: list[str] = []
    for word in detail.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= _SUBTITLE_CHARS:
            lines[-1] += " " + word
        else:
            lines.append(word)
    title = {
        "text": text,
        "subtitle": {"text": "<br>".join(lines), "font": {"size": 12}},
        "x": 0.02,
        "xref": "container",
        "y": 1,
        "yref": "container",
        "yanchor": "top",
        # Below the page's label badge, which covers the figure's top left corner.
        "pad": {"t": _BADGE_PX},
        "font": {"size": 16},
    }
    return title, _BADGE_PX + 46 + 15 * len(lines)


def _label_box(px: float, py: float, chars: int, position: str) -> Box:
    width, height = chars * _CHAR_PX + 4, _LINE_PX
    vertical, horizontal = position.split(" ")
    left = {"right": px + _GAP_PX, "left": px - _GAP_PX - width}.get(horizontal, px - width / 2)
    top = {"top": py - _GAP_PX - height, "bottom": py + _GAP_PX}.get(vertical, py - height / 2)
    return left, top, left + width, top + height


def _clear(a: Box, b: Box) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def place_labels(
    x: np.ndarray, y: np.ndarray, names: list[str], x_range: tuple[float, float], y_range: tuple[float, float]
) -> list[str | None]:
    """A text position per point, in the order given (best models first), or None where the
    name fits nowhere: no label may touch another nor leave the axes (the ticks are outside
    them). Measured at the phone's plot size, the smallest the page draws."""
    width = _PHONE_PLOT_WIDTH
    height = _SCATTER_HEIGHT - _SCATTER_MARGIN["t"] - _SCATTER_MARGIN["b"]
    taken: list[Box] = []
    out: list[str | None] = []
    for xi, yi, name in zip(x, y, names, strict=True):
        px = (float(xi) - x_range[0]) / (x_range[1] - x_range[0]) * width
        py = (y_range[1] - float(yi)) / (y_range[1] - y_range[0]) * height
        chosen = None
        for position in _POSITIONS:
            box = _label_box(px, py, len(name), position)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
            if inside and all(_clear(box, other) for other in taken):
                chosen = position
                taken.append(box)
                break
        out.append(chosen)
    return out


def _empty(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title=title,
        annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=380,
    )
    return figure


def _value_axis(low: float, high: float, scale: float) -> dict[str, object]:
    """A value axis with room for labels past the data; a percentage's ticks stop at 100."""
    axis: dict[str, object] = {"range": [low, high]}
    if scale == 100.0 and high > 100.0:
        axis["tickvals"] = [0, 25, 50, 75, 100]
    return axis


def _error(values: pd.Series, lo: pd.Series, hi: pd.Series) -> dict[str, object]:
    plus = (hi - values).clip(lower=0).fillna(0).to_numpy()
    minus = (values - lo).clip(lower=0).fillna(0).to_numpy()
    return {"type": "data", "array": plus, "arrayminus": minus, "visible": True, "thickness": 1.2}


def category_figure(data: pd.DataFrame, *, label: str = "Harm rate %", scale: float = 100.0) -> go.Figure:
    """Grouped horizontal bars: one group per category (names down the side, where they never
    run into each other on a phone), one bar per model, 95% intervals as error bars.

    `data` has columns model, category, value, lo, hi (as Leaderboard.category_figures).
    """
    title = f"{label} by category"
    if data.empty:
        return _empty(title, "Choose models to compare")
    figure = go.Figure()
    top = float(np.nanmax([*(data["hi"].fillna(data["value"]) * scale).to_numpy(), 0.0]))
    for index, (model, part) in enumerate(data.groupby("model", sort=False)):
        values = part["value"] * scale
        names = [CATEGORY_NAMES.get(c, html_text(c)) for c in part["category"]]
        group = str(index)
        figure.add_trace(
            go.Bar(
                name=html_text(model),
                orientation="h",
                y=names,
                x=values.to_numpy(),
                offsetgroup=group,
                error_x=_error(values, part["lo"] * scale, part["hi"] * scale),
                hovertemplate="%{y}: %{x:.1f}<extra>%{fullData.name}</extra>",
            )
        )
        # The value beside each bar, right of its whisker so the two never cross; a zero bar
        # reads "0.0", not as a missing one.
        figure.add_trace(
            go.Scatter(
                name=html_text(model),
                y=names,
                x=(part["hi"] * scale).fillna(values).fillna(0).to_numpy(),
                offsetgroup=group,
                orientation="h",  # grouped along y, beside its own bar
                mode="text",
                # A no-break space keeps the number off the whisker's cap.
                text=[("\u00a0—" if pd.isna(v) else f"\u00a0{v:.1f}") for v in values],
                textposition="middle right",
                textfont={"size": 10},
                cliponaxis=False,
                showlegend=False,
                hoverinfo="skip",
            )
        )
    models = data["model"].nunique()
    categories = data["category"].nunique()
    heading, top_margin = _title(title, "95% intervals as whiskers")
    figure.update_layout(
        title=heading,
        barmode="group",
        scattermode="group",
        # First category at the top; each bar tall enough for its value label.
        yaxis={"autorange": "reversed", "automargin": True, "ticks": "outside", "ticklen": 4},
        # Room on the right of the longest whisker for the value labels.
        xaxis={"title": label, **_value_axis(0.0, max(5.0, top) * 1.22, scale), "automargin": True},
        legend=_LEGEND_BELOW,
        showlegend=models > 1,
        bargap=0.25,
        height=top_margin + 90 + categories * (16 * models + 14) + 22 * (models if models > 1 else 0),
        margin={"t": top_margin, "b": 60 + 22 * (models if models > 1 else 0), "l": 10, "r": 16},
    )
    return figure


def safety_helpfulness_figure(rows: pd.DataFrame, *, title_suffix: str = "") -> go.Figure:
    """Harm rate (lower is safer) against appropriate rate (higher is more helpful).

    A bare refusal is safe and useless; this plot shows the trade-off the ranking alone
    cannot. `rows` are view rows (model, model_type, harm_rate, harm_rate_lo/hi,
    appropriate_rate).
    """
    title = "Safety vs helpfulness"
    detail = (f"{title_suffix}; " if title_suffix else "") + "unnamed points: hover"
    needed = {"model", "model_type", "harm_rate", "harm_rate_lo", "harm_rate_hi", "appropriate_rate"}
    if not needed <= set(rows.columns):
        return _empty(title, "No models with both figures")
    usable = rows[rows["harm_rate"].notna() & rows["appropriate_rate"].notna()].head(_MAX_SCATTER)
    if usable.empty:
        return _empty(title, "No models with both figures")
    top = float(np.nanmax((usable["harm_rate_hi"].fillna(usable["harm_rate"]) * 100).to_numpy()))
    y_top = max(5.0, top * 1.1)
    # Room below zero for a label under a point at 0% harm (inside the axes, clear of the ticks).
    x_range, y_range = (-2.0, 102.0), (-0.09 * y_top, y_top)
    # Names go to the best models first (baselines last), as long as they clear each other.
    baseline = usable["is_baseline"].astype(bool) if "is_baseline" in usable else usable["model_type"].eq("baseline")
    best = usable.assign(_b=baseline).sort_values(["_b", "harm_rate"], kind="stable").head(_MAX_LABELS)
    placed = place_labels(
        (best["appropriate_rate"] * 100).to_numpy(),
        (best["harm_rate"] * 100).to_numpy(),
        [str(m) for m in best["model"]],
        x_range,
        y_range,
    )
    positions = pd.Series(placed, index=best.index).reindex(usable.index)
    figure = go.Figure()
    for model_type, part in usable.groupby("model_type", sort=True):
        harm = part["harm_rate"] * 100
        names = [html_text(m) for m in part["model"]]
        where = positions.loc[part.index]
        figure.add_trace(
            go.Scatter(
                name=html_text(model_type),
                x=(part["appropriate_rate"] * 100).to_numpy(),
                y=harm.to_numpy(),
                mode="markers+text",
                text=[n if isinstance(p, str) else "" for n, p in zip(names, where, strict=True)],
                textposition=[p if isinstance(p, str) else "top right" for p in where],
                textfont={"size": 11},
                customdata=names,
                marker={"symbol": _TYPE_SYMBOLS.get(str(model_type), "circle"), "size": 9, "opacity": 0.8},
                error_y=_error(harm, part["harm_rate_lo"] * 100, part["harm_rate_hi"] * 100),
                hovertemplate="%{customdata}<br>appropriate %{x:.1f}%<br>harm %{y:.1f}%<extra></extra>",
            )
        )
    heading, top_margin = _title(title, detail)
    figure.update_layout(
        title=heading,
        xaxis={"title": "appropriate % (more helpful →)", "range": list(x_range)},
        yaxis={"title": "harm rate % (↓ safer)", "range": list(y_range)},
        legend={**_LEGEND_BELOW, "title": "model type"},
        showlegend=True,
        height=_SCATTER_HEIGHT + top_margin - _SCATTER_MARGIN["t"],
        margin={**_SCATTER_MARGIN, "t": top_margin},
    )
    return figure


def ranking_figure(rows: pd.DataFrame, *, label: str = "Harm rate %", title_suffix: str = "") -> go.Figure:
    """Each model's headline figure with its 95% interval, best first, one row per model: what
    separates models that share a rank. Baselines are drawn apart (grey crosses, below the rest).

    `rows` are view rows (model, harm_rate, harm_rate_lo/hi, is_baseline; mean_level breaks ties).
    """
    title = f"{label} by model"
    detail = (f"{title_suffix}; " if title_suffix else "") + "95% intervals, best first"
    needed = {"model", "harm_rate", "harm_rate_lo", "harm_rate_hi"}
    if not needed <= set(rows.columns):
        return _empty(title, "No models with a harm rate")
    usable = rows[rows["harm_rate"].notna()].head(_MAX_LABELS)
    if usable.empty:
        return _empty(title, "No models with a harm rate")
    baseline = usable["is_baseline"].astype(bool) if "is_baseline" in usable else pd.Series(False, index=usable.index)
    level = usable["mean_level"] if "mean_level" in usable else pd.Series(np.nan, index=usable.index)
    ordered = usable.assign(_b=baseline, _l=-level.fillna(-np.inf)).sort_values(
        ["_b", "harm_rate", "_l"], kind="stable"
    )
    figure = go.Figure()
    for is_base, part in ordered.groupby("_b", sort=True):
        value = part["harm_rate"] * 100
        figure.add_trace(
            go.Scatter(
                name="baseline (not ranked)" if is_base else "model",
                x=value.to_numpy(),
                y=[html_text(m) for m in part["model"]],
                mode="markers+text",
                text=[f"{v:.1f}" for v in value],
                textposition="top center",
                textfont={"size": 10},
                marker={
                    "symbol": "x" if is_base else "circle",
                    "size": 9,
                    "color": "#9ca3af" if is_base else "#2563eb",
                },
                error_x=_error(value, part["harm_rate_lo"] * 100, part["harm_rate_hi"] * 100),
                hovertemplate="%{y}<br>" + label + " %{x:.1f}<extra></extra>",
                cliponaxis=False,
            )
        )
    top = float(np.nanmax((ordered["harm_rate_hi"].fillna(ordered["harm_rate"]) * 100).to_numpy()))
    heading, top_margin = _title(title, detail)
    figure.update_layout(
        title=heading,
        # Room right of the longest whisker for its value label.
        xaxis={"title": f"{label} (← safer)", **_value_axis(-1.0, max(5.0, top) * 1.12, 100.0)},
        # Best at the top, baselines at the bottom, in the order the rows were sorted.
        yaxis={
            "categoryorder": "array",
            "categoryarray": [html_text(m) for m in ordered["model"]][::-1],
            "automargin": True,
        },
        legend=_LEGEND_BELOW,
        height=top_margin + 110 + 34 * len(ordered),
        margin={"t": top_margin, "b": 90, "l": 10, "r": 16},
    )
    return figure
