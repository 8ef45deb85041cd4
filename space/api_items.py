"""GET /api/v1/items: the Items tab's drill-down as JSON (space.drilldown reads the files).

Every published item of a PUBLIC set for one model, with its reply, level and the judge's
checklist answers with evidence quotes, and optionally a second model's on the same items.
Nothing of a private set is ever published there, so nothing of one can come back.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from evaluator.protocol.taxonomy import CATEGORIES
from leaderboard.links import plain_text
from leaderboard.query import Leaderboard
from space.drilldown import ALL_CATEGORIES, MAX_MODEL_CHARS, item_records

ITEMS_ROUTE: Final = "/items"
CATEGORIES_LISTED: Final = "/api/v1/docs"
_FIELDS: Final = ("set_name", "set_version", "item_id", "category", "signal", "prompt")


def _side(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    checklist = [
        {k: str(entry.get(k) or "") for k in ("question", "answer", "evidence")}
        for entry in record.get("checklist") or []
        if isinstance(entry, dict)
    ]
    level = record.get("level")
    return {
        "model": plain_text(record.get("model")),
        "run_id": plain_text(record.get("run_id")),
        "reply": str(record.get("reply") or ""),
        "level": level if isinstance(level, int) else None,
        "failure_mode": record.get("failure_mode"),
        "checklist_judge": record.get("checklist_judge"),
        "checklist": checklist,
    }


def add_items_route(api: FastAPI, board: Leaderboard) -> None:
    data = board.store.data

    @api.get(ITEMS_ROUTE, summary="Every item of the public sets with one model's reply, level and checklist")
    def items(
        model: Annotated[str, Query(max_length=MAX_MODEL_CHARS, description="model id as recorded")],
        second: Annotated[str | None, Query(max_length=MAX_MODEL_CHARS, description="a second model")] = None,
        category: Annotated[str | None, Query(max_length=64, description="one category; empty: all")] = None,
    ) -> JSONResponse:
        if category and category not in CATEGORIES:
            return JSONResponse(
                {
                    "error": f"unknown category {plain_text(category)[:64]!r} (valid values: {CATEGORIES_LISTED})",
                    "see": CATEGORIES_LISTED,
                },
                status_code=400,
            )
        chosen = category or ALL_CATEGORIES
        first = item_records(data, model, chosen)
        other = item_records(data, second, chosen) if second else {}
        rows = [
            {k: record.get(k) for k in _FIELDS} | {"first": _side(record), "second": _side(other.get(key))}
            for key, record in first.items()
        ]
        return JSONResponse({"model": model, "second": second, "count": len(rows), "items": rows})
