"""`--executor NAME` to an executor: the one module that knows every kind.

Both kinds are imported here at module level; that costs little, because the Ray executor
imports Ray itself only when one is built (the Space never imports Ray).
"""

from __future__ import annotations

from typing import Any, Final

from evaluator.executors.base import Executor
from evaluator.executors.local import LocalExecutor
from evaluator.executors.ray import RayExecutor

EXECUTORS: Final = ("local", "ray")


def make_executor(
    name: str = "local", *, ray_address: str | None = None, max_concurrent: int = 1, **kwargs: Any
) -> Executor:
    """The executor `--executor NAME` names. ValueError with one line for bad input."""
    if max_concurrent < 1:
        raise ValueError("--max-concurrent must be at least 1")
    if name == "local":
        if max_concurrent != 1 or ray_address:
            raise ValueError("--max-concurrent and --ray-address need --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=ray_address, max_concurrent=max_concurrent, **kwargs)
    raise ValueError(f"unknown executor {name!r}: expected one of {', '.join(EXECUTORS)}")
