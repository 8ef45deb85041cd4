"""Loading result rows, ranking and filtering them, plots and exports (no UI code).

The Space (space/) only shows what this package computes; `python -m leaderboard` prints it.
"""

from evaluator.results import PROTOCOL_COLUMNS
from leaderboard.boards import Board, current_board, list_boards, ranked_board
from leaderboard.display import COLUMNS, DEFAULT_COLUMNS, PIVOT_METRICS, Column
from leaderboard.export import ordered_rows, render, write_parquet
from leaderboard.hidden import HiddenModel, hide_model, read_hidden, unhide_model
from leaderboard.links import hub_url, is_hub_id, markdown_text, model_markdown, plain_text
from leaderboard.query import (
    CATEGORY_CHOICES,
    MODEL_TYPES,
    SIGNAL_CHOICES,
    Filters,
    Leaderboard,
    QueryError,
    QueryResult,
    search_mask,
)
from leaderboard.store import LoadError, ModelMeta, ResultStore, load_results, store_for

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
    "HiddenModel",
    "Leaderboard",
    "LoadError",
    "ModelMeta",
    "QueryError",
    "QueryResult",
    "ResultStore",
    "current_board",
    "hide_model",
    "hub_url",
    "is_hub_id",
    "list_boards",
    "load_results",
    "markdown_text",
    "model_markdown",
    "ordered_rows",
    "plain_text",
    "ranked_board",
    "read_hidden",
    "render",
    "search_mask",
    "store_for",
    "unhide_model",
    "write_parquet",
]
