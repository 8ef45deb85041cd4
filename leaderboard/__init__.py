"""Loading result rows, ranking and filtering them, plots and exports (no UI code).

The Space (space/) only shows what this package computes; `python -m leaderboard` prints it.
"""

from leaderboard.boards import Board, current_board, list_boards
from leaderboard.export import PROTOCOL_COLUMNS, ordered_rows, render, write_parquet
from leaderboard.links import hub_url, is_hub_id, markdown_text, model_markdown, plain_text
from leaderboard.store import LoadError, ModelMeta, ResultStore, load_results, store_for
from leaderboard.view import (
    CATEGORY_CHOICES,
    COLUMNS,
    DEFAULT_COLUMNS,
    MODEL_TYPES,
    PIVOT_METRICS,
    SIGNAL_CHOICES,
    Column,
    Filters,
    Leaderboard,
    QueryError,
    QueryResult,
    search_mask,
)

__all__ = [
    "CATEGORY_CHOICES",
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "MODEL_TYPES",
    "PIVOT_METRICS",
    "PROTOCOL_COLUMNS",
    "SIGNAL_CHOICES",
    "Board",
    "Column",
    "Filters",
    "Leaderboard",
    "LoadError",
    "ModelMeta",
    "QueryError",
    "QueryResult",
    "ResultStore",
    "current_board",
    "hub_url",
    "is_hub_id",
    "list_boards",
    "load_results",
    "markdown_text",
    "model_markdown",
    "ordered_rows",
    "plain_text",
    "render",
    "search_mask",
    "store_for",
    "write_parquet",
]
