"""The one interface both executors share: evaluate one request's run, return its outcome.

Both build the run's sink the same way, with `run_sink`: the worker's local executor over the
worker's store, a Ray task over the store it opens on its node (evaluator.storage.sink).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from evaluator.pipeline import RunError
from evaluator.storage import RunSink

if TYPE_CHECKING:
    from evaluator.conversation import ConversationConfig, ConversationOutcome
    from evaluator.pipeline import OnProgress, RunConfig, RunOutcome
    from evaluator.storage import Store
    from submissions.records import RequestRecord


class ExecutorError(RunError):
    """An attempt the executor could not carry out (a task that died, a model too large for the
    cluster); one line its submitter can read. The request may be retried: finished items are kept."""


def run_sink(store: Store, *, node_local: bool = False, checkpoint_s: float | None = None) -> RunSink:
    """The sink one attempt writes its run through. `node_local`: `store` is a fresh mirror on
    a node of its own (a Ray task on a hub: store), so a failed pull raises, and the run is
    also committed every `checkpoint_s` between stage points."""
    return RunSink(store, checkpoint_s=checkpoint_s if node_local else None, fresh=node_local)


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
        sink: RunSink,
        should_stop: Callable[[], bool],
        *,
        on_progress: OnProgress | None = None,
        request: RequestRecord | None = None,
    ) -> RunOutcome:
        """Run (or resume) `config`; a stop request ends it with status "stopped".

        The run writes through `sink` where it runs in this process (`local`, and Ray's batch
        mode); the caller then publishes through it. A Ray task opens `sink.store`'s spec on
        its node and writes, checkpoints and publishes through its own `run_sink` there."""
        ...

    def converse(
        self,
        config: ConversationConfig,
        sink: RunSink,
        should_stop: Callable[[], bool],
        *,
        on_progress: OnProgress | None = None,
        request: RequestRecord | None = None,
    ) -> ConversationOutcome:
        """A conversation run (PROTOCOL section 9), where and as `evaluate` runs a single-turn run:
        in this process for `local`, as a Ray task with the same placement, store, progress,
        cancel and failure reasons for `ray`."""
        ...

    def close(self) -> None: ...
