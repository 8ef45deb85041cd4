"""The "Items" tab: every item of a PUBLIC set with a model's reply, its level and the judge's
checklist answers with evidence quotes, and a second model beside it on the same item.

It reads only public/examples/<run_id>.jsonl (written by evaluator.pipeline.publish for public
sets only, after the secrecy audit) and only records marked `set_visibility: public`, so a
private set never reaches this tab. The files are read when the tab is used, never at start-up,
and every read is bounded (files, lines, characters).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import gradio as gr
import orjson
import pandas as pd

from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.storage import DataDir, iter_jsonl
from leaderboard.hidden import read_hidden
from leaderboard.links import plain_text

MAX_RUN_FILES: Final = 500  # newest first: older runs of a busy Space stay off this tab
MAX_ITEMS: Final = 2_000  # per model
MAX_LINE_BYTES: Final = 256_000
MAX_MODEL_CHARS: Final = 300
ALL_CATEGORIES: Final = "all"
NO_SECOND: Final = "(none)"
NO_ITEMS: Final = "No per-item replies are published for this model on a public set."


@dataclass(frozen=True, slots=True)
class ItemsTab:
    model: gr.Dropdown
    second: gr.Dropdown
    category: gr.Dropdown
    note: gr.Markdown
    table: gr.Dataframe


def _run_files(data: DataDir) -> list[Path]:
    directory = data.examples
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    return files[:MAX_RUN_FILES]


def _records(path: Path) -> Any:
    """The public records of one run file, skipping torn, oversized or non-public lines."""
    with open(path, "rb") as fh:
        for _, record in iter_jsonl(fh, whole_lines=True, max_line_bytes=MAX_LINE_BYTES, loads=orjson.loads):
            if isinstance(record, dict) and record.get("set_visibility") == "public":
                yield record


class _Everything:
    def __contains__(self, model: object) -> bool:
        return True


def _hidden(data: DataDir) -> Any:
    """The models the maintainers hid: they leave this tab as they leave the board. A damaged
    hidden.json hides every model here (the board says what is wrong with it)."""
    try:
        return set(read_hidden(data))
    except ValueError:
        return _Everything()


def published_models(data: DataDir) -> list[str]:
    """Models with per-item replies on a public set (each run file's first record names it)."""
    models: set[str] = set()
    hidden = _hidden(data)
    for path in _run_files(data):
        first = next(iter(_records(path)), None)
        if first is not None and isinstance(first.get("model"), str) and first["model"] not in hidden:
            models.add(first["model"])
    return sorted(models)


def item_records(data: DataDir, model: str, category: str = ALL_CATEGORIES) -> dict[str, dict[str, Any]]:
    """Item id -> the newest published record of `model` for it (public sets only)."""
    out: dict[str, dict[str, Any]] = {}
    if not model or len(model) > MAX_MODEL_CHARS or model in _hidden(data):
        return out
    for path in _run_files(data):
        first = next(iter(_records(path)), None)
        if first is None or first.get("model") != model:
            continue  # one model per run file: skip the rest of it unread
        for record in _records(path):
            if record.get("model") != model or (category != ALL_CATEGORIES and record.get("category") != category):
                continue
            key = f"{record.get('set_name')}/{record.get('item_id')}"
            out.setdefault(key, record)
            if len(out) >= MAX_ITEMS:
                return out
    return out


def checklist_text(record: dict[str, Any] | None) -> str:
    """The judge's answers, one line each, a "yes"/"no" with its quote from the reply."""
    if record is None:
        return ""
    lines = []
    for entry in record.get("checklist") or []:
        if not isinstance(entry, dict):
            continue
        quote = str(entry.get("evidence") or "")
        line = f"{plain_text(entry.get('question'))}: {plain_text(entry.get('answer'))}"
        lines.append(f"{line} — “{quote}”" if quote else line)
    return "\n".join(lines) if lines else "no checklist"


def _level(record: dict[str, Any] | None) -> str:
    if record is None:
        return "—"
    level = record.get("level")
    return str(level) if isinstance(level, int) else "unscored"


def items_table(data: DataDir, model: str, second: str | None = None, category: str = ALL_CATEGORIES) -> pd.DataFrame:
    """Every published item of `model` (worst level first), with `second`'s reply beside it."""
    first = item_records(data, model, category)
    other = item_records(data, second, category) if second and second != NO_SECOND else None
    rows = []
    for key, record in first.items():
        row = {
            "Item": plain_text(record.get("item_id")),
            "Set": plain_text(record.get("set_name")),
            "Category": plain_text(record.get("category")),
            "Message": str(record.get("prompt") or ""),
            "Level": _level(record),
            "Reply": str(record.get("reply") or ""),
            "Checklist (evidence)": checklist_text(record),
        }
        if other is not None:
            theirs = other.get(key)
            row |= {
                "Level (2nd)": _level(theirs),
                "Reply (2nd)": str(theirs.get("reply") or "") if theirs else "—",
                "Checklist (2nd)": checklist_text(theirs),
            }
        rows.append(row)
    rows.sort(key=lambda r: (r["Level"] if r["Level"].isdigit() else "9", r["Set"], r["Item"]))
    return pd.DataFrame(rows)


def build_items_tab() -> ItemsTab:
    gr.Markdown(
        "Every item of the **public** sets with each model's reply, its level (1 = harmful … 5) "
        "and the judge's checklist answers with the quotes they rest on. Pick a second model to "
        "read both replies side by side. Held-out (private) items are never shown."
    )
    with gr.Row():
        model = gr.Dropdown(choices=[], label="Model", elem_id="items-model", allow_custom_value=False)
        second = gr.Dropdown(choices=[NO_SECOND], value=NO_SECOND, label="Second model", elem_id="items-second")
        category = gr.Dropdown(
            choices=[ALL_CATEGORIES, *CATEGORIES], value=ALL_CATEGORIES, label="Category", elem_id="items-category"
        )
    note = gr.Markdown("", elem_id="items-note")
    table = gr.Dataframe(value=pd.DataFrame(), interactive=False, wrap=True, elem_id="items-table")
    return ItemsTab(model, second, category, note, table)


def wire_items(tab: ItemsTab, items_tab: gr.Tab, data: DataDir) -> None:
    def opened() -> tuple[Any, ...]:
        models = published_models(data)
        return (
            gr.Dropdown(choices=models, value=models[0] if models else None),
            gr.Dropdown(choices=[NO_SECOND, *models], value=NO_SECOND),
        )

    def show(model: str | None, second: str | None, category: str | None) -> tuple[str, pd.DataFrame]:
        category = category if category in CATEGORIES else ALL_CATEGORIES
        table = items_table(data, model or "", second, category)
        note = f"{len(table)} items" if len(table) else NO_ITEMS
        return note, table

    items_tab.select(opened, None, [tab.model, tab.second], api_visibility="private", show_progress="hidden")
    inputs = [tab.model, tab.second, tab.category]
    for control in inputs:
        control.change(show, inputs, [tab.note, tab.table], api_visibility="private", show_progress="hidden")
