"""The crisis-safety evaluation engine: an evaluation = item set + backend + judge + metrics.

    from evaluator import RunConfig, run_evaluation, load_set, DataDir
    outcome = run_evaluation(RunConfig(model="baseline:refusal", item_set=load_set(path)), DataDir.at("./var"))

Subpackages: `protocol` (taxonomy, checklist, prompts), `backends`, `judge`, `metrics`.
"""

from evaluator.items import Item, ItemSet, ItemSetError, Turn, load_items, load_set
from evaluator.pipeline import RunConfig, RunError, RunOutcome, run_evaluation
from evaluator.results import RESULT_COLUMNS, RESULT_SCHEMA
from evaluator.storage import DataDir

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
