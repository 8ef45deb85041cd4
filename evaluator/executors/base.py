"""The one interface both executors share: evaluate one request's run, return its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from evaluator.pipeline import RunError

if TYPE_CHECKING:
    from evaluator.pipeline import OnProgress, OnStage, RunConfig, RunOutcome
    from evaluator.storage import DataDir
    from submissions.records import RequestRecord


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
