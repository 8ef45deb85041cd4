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
# Label positions tried in turn for a point whose neighbour's label would overlap.
_POSITIONS: Final = ("top right", "bottom right", "top left", "bottom left", "middle right", "middle left")


def category_name(category: str) -> str:
    """The category as a reader names it, on one line."""
    return CATEGORY_NAMES.get(category, category.replace("_", " ")).replace("<br>", " ")


def label_positions(x: np.ndarray, y: np.ndarray, *, near_x: float = 12.0, near_y: float = 4.0) -> list[str]:
    """A text position per point so that labels of nearby points do not sit on each other:
    each point takes the first position no earlier neighbour within the box uses."""
    positions: list[str] = []
    for i in range(len(x)):
        taken = {
            positions[j]
            for j in range(i)
            if abs(float(x[j]) - float(x[i])) < near_x and abs(float(y[j]) - float(y[i])) < near_y
        }
        positions.append(next((p for p in _POSITIONS if p not in taken), _POSITIONS[i % len(_POSITIONS)]))
    return positions


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


def _error(values: pd.Series, lo: pd.Series, hi: pd.Series) -> dict[str, object]:
    plus = (hi - values).clip(lower=0).fillna(0).to_numpy()
    minus = (values - lo).clip(lower=0).fillna(0).to_numpy()
    return {"type": "data", "array": plus, "arrayminus": minus, "visible": True, "thickness": 1.2}


def category_figure(data: pd.DataFrame, *, label: str = "Harm rate %", scale: float = 100.0) -> go.Figure:
    """Grouped bars: one group per category, one bar per model, 95% intervals as error bars.

    `data` has columns model, category, value, lo, hi (as Leaderboard.category_figures).
    """
    title = f"{label} by category (95% intervals)"
    if data.empty:
        return _empty(title, "Choose models to compare")
    figure = go.Figure()
    for model, part in data.groupby("model", sort=False):
        values = part["value"] * scale
        figure.add_trace(
            go.Bar(
                name=html_text(model),
                x=[CATEGORY_NAMES.get(c, html_text(c)) for c in part["category"]],
                y=values.to_numpy(),
                error_y=_error(values, part["lo"] * scale, part["hi"] * scale),
                # The value on each bar: a zero bar reads "0.0", not as a missing one.
                text=[("—" if pd.isna(v) else f"{v:.1f}") for v in values],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{x}: %{y:.1f}<extra>%{fullData.name}</extra>",
            )
        )
    figure.update_layout(
        title=title,
        barmode="group",
        yaxis_title=label,
        xaxis={"title": "category", "tickangle": 0, "automargin": True},
        legend={"title": "model", "orientation": "h", "y": -0.3},
        height=460,
        margin={"t": 60, "b": 40},
    )
    figure.update_yaxes(rangemode="tozero")
    return figure


def safety_helpfulness_figure(rows: pd.DataFrame, *, title_suffix: str = "") -> go.Figure:
    """Harm rate (lower is safer) against appropriate rate (higher is more helpful).

    A bare refusal is safe and useless; this plot shows the trade-off the ranking alone
    cannot. `rows` are view rows (model, model_type, harm_rate, harm_rate_lo/hi,
    appropriate_rate).
    """
    title = "Safety vs helpfulness" + (f" ({title_suffix})" if title_suffix else "")
    needed = {"model", "model_type", "harm_rate", "harm_rate_lo", "harm_rate_hi", "appropriate_rate"}
    if not needed <= set(rows.columns):
        return _empty(title, "No models with both figures")
    usable = rows[rows["harm_rate"].notna() & rows["appropriate_rate"].notna()].head(_MAX_SCATTER)
    if usable.empty:
        return _empty(title, "No models with both figures")
    figure = go.Figure()
    labelled = len(usable) <= _MAX_LABELS
    positions = pd.Series(
        label_positions((usable["appropriate_rate"] * 100).to_numpy(), (usable["harm_rate"] * 100).to_numpy()),
        index=usable.index,
    )
    for model_type, part in usable.groupby("model_type", sort=True):
        harm = part["harm_rate"] * 100
        names = [html_text(m) for m in part["model"]]
        figure.add_trace(
            go.Scatter(
                name=html_text(model_type),
                x=(part["appropriate_rate"] * 100).to_numpy(),
                y=harm.to_numpy(),
                mode="markers+text" if labelled else "markers",
                textposition=positions.loc[part.index].tolist(),
                textfont={"size": 11},
                cliponaxis=False,
                marker={"symbol": _TYPE_SYMBOLS.get(str(model_type), "circle"), "size": 9, "opacity": 0.8},
                error_y=_error(harm, part["harm_rate_lo"] * 100, part["harm_rate_hi"] * 100),
                text=names,
                hovertemplate="%{text}<br>appropriate %{x:.1f}%<br>harm %{y:.1f}%<extra></extra>",
            )
        )
    top = float(np.nanmax((usable["harm_rate_hi"].fillna(usable["harm_rate"]) * 100).to_numpy()))
    figure.update_layout(
        title=title,
        xaxis={"title": "appropriate rate % (more helpful →)", "range": [-2, 102]},
        yaxis={"title": "harm rate % (↓ safer)", "range": [-1, max(5.0, top * 1.1)]},
        legend={"title": "model type"},
        showlegend=True,
        height=420,
        margin={"t": 60, "b": 40},
    )
    return figure


def ranking_figure(rows: pd.DataFrame, *, label: str = "Harm rate %", title_suffix: str = "") -> go.Figure:
    """Each model's headline figure with its 95% interval, best first, one row per model: what
    separates models that share a rank. Baselines are drawn apart (grey crosses, below the rest).

    `rows` are view rows (model, harm_rate, harm_rate_lo/hi, is_baseline; mean_level breaks ties).
    """
    title = f"{label} with 95% intervals" + (f" ({title_suffix})" if title_suffix else "")
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
    figure.update_layout(
        title=title,
        xaxis={"title": f"{label} (← safer)", "range": [-1, max(5.0, top * 1.08)]},
        # Best at the top, baselines at the bottom, in the order the rows were sorted.
        yaxis={
            "categoryorder": "array",
            "categoryarray": [html_text(m) for m in ordered["model"]][::-1],
            "automargin": True,
        },
        legend={"orientation": "h", "y": -0.2},
        height=140 + 34 * len(ordered),
        margin={"t": 60, "b": 40, "l": 10, "r": 10},
    )
    return figure
