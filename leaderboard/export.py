"""Result rows and shown tables as CSV, JSON, Markdown and Parquet.

The full export keeps the contract's column names and types (RESULT_SCHEMA), so a
downloaded file is read exactly like the files under results/. Text formats print every
value; Markdown, meant for a terminal or a README, makes control characters visible so a
hostile model name cannot drive the terminal.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.results import OVERALL, PROTOCOL_COLUMNS, RESULT_COLUMNS, RESULT_SCHEMA
from evaluator.storage import atomic_write_bytes
from leaderboard.links import csv_safe, plain_text

FORMATS: Final = ("csv", "json", "markdown")
_CATEGORY_ORDER: Final = {c: i for i, c in enumerate((OVERALL, *CATEGORIES))}
_TEXT_COLUMNS: Final = frozenset({"model", "revision", "model_type", "set_name", "set_version", "judge", "run_id"})


def ordered_rows(frame: pd.DataFrame, *, all_columns: bool = False) -> pd.DataFrame:
    """Rows in a stable order (board, model, run, category as in the protocol) and columns:
    every column PROTOCOL section 8 names (each version's additions included), or every
    column present in RESULT_COLUMNS order."""
    columns = list(PROTOCOL_COLUMNS)
    if all_columns:
        columns = [*RESULT_COLUMNS, *(c for c in frame.columns if c not in RESULT_COLUMNS)]
    out = frame.reindex(columns=columns)
    if out.empty:
        return out.reset_index(drop=True)
    keys = pd.DataFrame(
        {
            "set_name": frame["set_name"].fillna(""),
            "set_version": frame["set_version"].fillna(""),
            "judge": frame["judge"].fillna(""),
            "model": frame["model"].fillna(""),
            "revision": frame["revision"].fillna(""),
            "evaluated_at": frame["evaluated_at"],
            "run_id": frame["run_id"].fillna(""),
            "category": frame["category"].map(_CATEGORY_ORDER).fillna(len(_CATEGORY_ORDER)),
            "category_name": frame["category"].fillna(""),
        },
        index=frame.index,
    )
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = list(frame.columns)
    return [
        {c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in frame.itertuples(index=False, name=None)
    ]


def to_json(frame: pd.DataFrame) -> str:
    return json.dumps(_records(frame), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def to_csv(frame: pd.DataFrame, *, neutralise_formulas: bool = False) -> str:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "M":
            out[column] = out[column].map(lambda v: None if pd.isna(v) else v.isoformat())
        elif neutralise_formulas and (out[column].dtype == object or pd.api.types.is_string_dtype(out[column])):
            out[column] = out[column].astype("object").map(csv_safe)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _markdown_cell(value: Any) -> str:
    value = _jsonable(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return plain_text(value).replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(frame: pd.DataFrame) -> str:
    header = [_markdown_cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return to_csv(frame)
    if fmt == "json":
        return to_json(frame)
    if fmt == "markdown":
        return to_markdown(frame)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def results_table(frame: pd.DataFrame) -> pa.Table:
    """All rows as Arrow with the contract's types; extra columns keep their own."""
    ordered = ordered_rows(frame, all_columns=True)
    fields = list(RESULT_SCHEMA)
    for column in ordered.columns[len(RESULT_COLUMNS) :]:
        fields.append(pa.Schema.from_pandas(ordered[[column]], preserve_index=False).field(column))
    return pa.Table.from_pandas(ordered, schema=pa.schema(fields), preserve_index=False)


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    sink = pa.BufferOutputStream()
    pq.write_table(results_table(frame), sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
    return path


def write_text(text: str, path: Path) -> Path:
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def shown_table_csv(display: pd.DataFrame, model_names: Sequence[str], hub_urls: Sequence[str | None]) -> str:
    """The shown table for a spreadsheet: plain model names (not Markdown), a Hub link
    column, and formulas neutralised in every text cell (names are untrusted)."""
    out = display.copy()
    if "Model" in out.columns:
        out["Model"] = list(model_names)
        position = list(out.columns).index("Model") + 1
        out.insert(position, "Hub page", list(hub_urls))
    return to_csv(out, neutralise_formulas=True)
