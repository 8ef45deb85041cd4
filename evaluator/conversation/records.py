"""A conversation run's record under runs/<run_id>/ (private): the appended per-turn JSONL
records (turns, judgements, verdicts) and how they are read back, spec.json's creation stamp,
and status.json, the outcome of the last attempt."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from evaluator.clock import now_iso
from evaluator.storage import RunSink, iter_jsonl, read_json


@dataclass(frozen=True)
class ConversationOutcome:
    status: str  # "complete" | "incomplete" | "stopped" | "unscored"
    run_id: str
    rows: list[dict[str, Any]]
    reason: str | None = None
    result_file: Path | None = None
    transcripts_file: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error_class: str | None = None  # AUDIT_REFUSED when the secrecy audit refused to publish

    @property
    def complete(self) -> bool:
        return self.status == "complete"


class Records:
    """Append-only JSONL of finished records. Records are handed to the kernel at the end of
    each batch (`flush`), in whole lines: a run killed mid-turn loses at most that turn's
    records, which the resumed run redoes; fsync at the end."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "ab") as fh:  # close off a line torn by a kill
                fh.write(b"\n")
        self._fh = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._buffer: list[bytes] = []

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._buffer.append(line)

    def flush(self) -> None:
        with self._lock:
            if self._buffer:
                self._fh.write(b"".join(self._buffer))
                self._buffer = []
                self._fh.flush()

    def close(self) -> None:
        self.flush()
        with self._lock:
            os.fsync(self._fh.fileno())
            self._fh.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # A torn last line is skipped: that turn is redone.
    return [v for _, v in iter_jsonl(path.read_bytes().splitlines(), loads=orjson.loads) if isinstance(v, dict)]


def created_at(sink: RunSink, run_dir: Path, spec: dict[str, Any], run_id: str) -> str:
    """Write spec.json unless an earlier attempt did; the run's creation time either way."""
    spec_path = run_dir / "spec.json"
    if spec_path.exists():
        return str(read_json(spec_path)["created_at"])
    stamp = now_iso()
    sink.write_json(spec_path, spec | {"run_id": run_id, "created_at": stamp})
    return stamp


def finish(sink: RunSink, run_dir: Path, outcome: ConversationOutcome) -> ConversationOutcome:
    """Record the attempt's outcome in status.json (through the run's sink); the outcome."""
    sink.write_json(
        run_dir / "status.json",
        {"status": outcome.status, "reason": outcome.reason, "stats": outcome.stats, "updated_at": now_iso()},
    )
    return outcome
