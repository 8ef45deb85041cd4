"""Where a claimed request is evaluated: in this process (`local`) or as a task on a Ray cluster (`ray`).

Ray is imported only by the Ray executor, when one is built: the Space never imports it.
"""

from __future__ import annotations

from evaluator.executors.base import Executor, ExecutorError, run_sink
from evaluator.executors.factory import EXECUTORS, make_executor

__all__ = ["EXECUTORS", "Executor", "ExecutorError", "make_executor", "run_sink"]
