"""A conversation run's pulls and pushes through the store (local directory or the Hub).

Like evaluator.executors.sync for single-turn runs: before the run starts its private run
directory is pulled (so a run another machine began resumes here), after generation and
after judging it is pushed, and a finished run's public files are pushed last. Per-turn
progress stays local between those points: the Hub limits commit rates.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from evaluator.storage import StoreUnavailable

if TYPE_CHECKING:
    from evaluator.conversation.run import ConversationOutcome
    from evaluator.storage import Store

log = logging.getLogger("evaluator.conversation.sync")


class ConversationSync:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.prefix: str | None = None

    def _run_files(self) -> list[str]:
        if self.prefix is None:
            return []
        root = self.store.data.root
        return [p.relative_to(root).as_posix() for p in sorted((root / self.prefix).rglob("*")) if p.is_file()]

    def on_stage(self, stage: str, run_dir: Path) -> None:
        if stage == "turn":
            return
        try:
            if stage == "start":
                self.prefix = f"runs/{run_dir.name}/"
                self.store.pull(self.prefix)
            else:
                self.store.push(self._run_files(), f"conversations {stage} {run_dir.name}")
        except StoreUnavailable as exc:
            log.warning("conversation run %s (%s): %s; carrying on", run_dir.name, stage, exc)

    def publish_files(self, outcome: ConversationOutcome) -> None:
        """The finished run, then its result rows and public transcripts; StoreUnavailable if not."""
        self.store.push(self._run_files(), f"conversations finished {outcome.run_id}")
        public = [f"results/{outcome.run_id}.parquet", f"public/conversations/{outcome.run_id}.jsonl"]
        self.store.push(public, f"Conversation results of run {outcome.run_id}")
