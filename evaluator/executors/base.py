"""The one interface both executors share: evaluate one request's run, return its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from evaluator.pipeline import RunError

if TYPE_CHECKING:
    from evaluator.pipeline import OnProgress, OnStage, RunConfig, RunOutcome
    from evaluator.storage import DataDir
    from submissions.records import RequestRecord

EXECUTORS: Final = ("local", "ray")


class ExecutorError(RunError):
    """An attempt the executor could not carry out (a task that died, a model too large for the
    cluster); one line its submitter can read. The request may be retried: finished items are kept."""


class Executor(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def max_concurrent(self) -> int:
        """How many requests this executor evaluates at once."""
        ...

    def evaluate(
        self,
        config: RunConfig,
        data: DataDir,
        should_stop: Callable[[], bool],
        *,
        on_progress: OnProgress | None = None,
        on_stage: OnStage | None = None,
        request: RequestRecord | None = None,
    ) -> RunOutcome:
        """Run (or resume) `config`; a stop request ends it with status "stopped".

        `on_stage` (the Hub store's pull and push) runs where the run directory is: in this
        process for `local` (and Ray's batch mode); a Ray task pulls and pushes its own run
        through the store from its node (evaluator.executors.sync), so `data`'s store is
        what it is handed, not `data`'s path."""
        ...

    def close(self) -> None: ...


def make_executor(
    name: str = "local", *, ray_address: str | None = None, max_concurrent: int = 1, **kwargs: Any
) -> Executor:
    """The executor `--executor NAME` names. ValueError with one line for bad input."""
    if max_concurrent < 1:
        raise ValueError("--max-concurrent must be at least 1")
    if name == "local":
        if max_concurrent != 1 or ray_address:
            raise ValueError("--max-concurrent and --ray-address need --executor ray")
        from evaluator.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from evaluator.executors.ray import RayExecutor

        return RayExecutor(address=ray_address, max_concurrent=max_concurrent, **kwargs)
    raise ValueError(f"unknown executor {name!r}: expected one of {', '.join(EXECUTORS)}")
