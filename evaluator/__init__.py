"""The crisis-safety evaluation engine: an evaluation = item set + backend + judge + metrics.

    from evaluator import RunConfig, run_evaluation, load_set, DataDir
    outcome = run_evaluation(RunConfig(model="baseline:refusal", item_set=load_set(path)), DataDir.at("./var"))

Subpackages: `protocol` (taxonomy, checklist, prompts), `backends`, `judge`, `metrics`.
The pipeline names load lazily: the submissions CLI and the Space import this package and
should not pay for pyarrow and the judges at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evaluator.items import Item, ItemSet, ItemSetError, Turn, load_items, load_set
from evaluator.storage import DataDir

if TYPE_CHECKING:
    from evaluator.pipeline import RunConfig, RunError, RunOutcome, run_evaluation
    from evaluator.results import RESULT_COLUMNS, RESULT_SCHEMA

_LAZY = {
    "RunConfig": "evaluator.pipeline",
    "RunError": "evaluator.pipeline",
    "RunOutcome": "evaluator.pipeline",
    "run_evaluation": "evaluator.pipeline",
    "RESULT_COLUMNS": "evaluator.results",
    "RESULT_SCHEMA": "evaluator.results",
}

__all__ = [
    "RESULT_COLUMNS",
    "RESULT_SCHEMA",
    "DataDir",
    "Item",
    "ItemSet",
    "ItemSetError",
    "RunConfig",
    "RunError",
    "RunOutcome",
    "Turn",
    "load_items",
    "load_set",
    "run_evaluation",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'evaluator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)  # why: pyarrow and numpy only for the pipeline names
