"""Today's behaviour: the run happens in the worker's own process, one request at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from evaluator.conversation import run_conversations
from evaluator.pipeline import run_evaluation

if TYPE_CHECKING:
    from evaluator.conversation import ConversationConfig, ConversationOutcome
    from evaluator.pipeline import OnProgress, RunConfig, RunOutcome
    from evaluator.storage import RunSink
    from submissions.records import RequestRecord


class LocalExecutor:
    name = "local"
    max_concurrent = 1

    def evaluate(
        self,
        config: RunConfig,
        sink: RunSink,
        should_stop: Callable[[], bool],
        *,
        on_progress: OnProgress | None = None,
        request: RequestRecord | None = None,
    ) -> RunOutcome:
        return run_evaluation(
            config, sink.data, progress=False, should_stop=should_stop, on_progress=on_progress, sink=sink
        )

    def converse(
        self,
        config: ConversationConfig,
        sink: RunSink,
        should_stop: Callable[[], bool],
        *,
        on_progress: OnProgress | None = None,
        request: RequestRecord | None = None,
    ) -> ConversationOutcome:
        return run_conversations(
            config, sink.data, progress=False, should_stop=should_stop, on_progress=on_progress, sink=sink
        )

    def close(self) -> None:
        pass
