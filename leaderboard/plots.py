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
_TYPE_SYMBOLS: Final = {"open-weight": "circle", "api": "diamond", "baseline": "x"}


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
                x=part["category"].tolist(),
                y=values.to_numpy(),
                error_y=_error(values, part["lo"] * scale, part["hi"] * scale),
                hovertemplate="%{x}: %{y:.1f}<extra>%{fullData.name}</extra>",
            )
        )
    figure.update_layout(
        title=title,
        barmode="group",
        yaxis_title=label,
        xaxis_title="category",
        legend_title="model",
        height=420,
        margin={"t": 60, "b": 40},
    )
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
    for model_type, part in usable.groupby("model_type", sort=True):
        harm = part["harm_rate"] * 100
        names = [html_text(m) for m in part["model"]]
        figure.add_trace(
            go.Scatter(
                name=html_text(model_type),
                x=(part["appropriate_rate"] * 100).to_numpy(),
                y=harm.to_numpy(),
                mode="markers",
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
        legend_title="type",
        height=420,
        margin={"t": 60, "b": 40},
    )
    return figure
