"""Today's behaviour: the run happens in the worker's own process, one request at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from evaluator.executors.sync import start_from_shared_cache
from evaluator.pipeline import run_evaluation

if TYPE_CHECKING:
    from evaluator.pipeline import OnProgress, OnStage, RunConfig, RunOutcome
    from evaluator.storage import DataDir
    from submissions.records import RequestRecord


class LocalExecutor:
    name = "local"
    max_concurrent = 1

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
        start_from_shared_cache(data, on_stage)
        return run_evaluation(
            config, data, progress=False, should_stop=should_stop, on_progress=on_progress, on_stage=on_stage
        )

    def close(self) -> None:
        pass
