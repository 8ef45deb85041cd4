"""The run record: what each stage wrote under runs/<run_id>/ (private), read by the next.

    spec.json          everything needed to reproduce the run (written once)
    replies.jsonl      one record per finished generation (reply or detection)
    judgements.jsonl   one record per final judgement (scored, or unscored with reason)
    status.json        the outcome of the last attempt

The run id is a hash of the spec (no time in it), so the same command finds the same record.
Every file is written through the run's sink (evaluator.storage.sink): in its store's directory,
committed to the store at the stage points.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from evaluator.backends import ModelInfo, Reply
from evaluator.clock import now_iso
from evaluator.items import sha256_json
from evaluator.judge.verdict import Judge, Judgement
from evaluator.pipeline.config import RunConfig, RunOutcome
from evaluator.protocol.detection import DETECTION_PROMPT_VERSION
from evaluator.protocol.taxonomy import PROTOCOL_VERSION
from evaluator.storage import RunSink, read_json, read_jsonl

# Run-directory records are handed to the kernel in batches of this many, or this often.
SINK_BATCH = 256
SINK_SECONDS = 1.0

Task = tuple[str, str]  # (kind, item id): kind is "reply" or "detect"
Judgements = dict[str, dict[str, Judgement]]  # per item id, per judge id


def run_id_for(spec: dict[str, Any]) -> str:
    return sha256_json(spec)[:16]


def build_spec(config: RunConfig, info: ModelInfo, judges: Sequence[Judge]) -> dict[str, Any]:
    """The hashed part of spec.json: two runs share a record exactly when this is equal."""
    item_set = config.item_set
    spec: dict[str, Any] = {
        "protocol_version": PROTOCOL_VERSION,
        "model": {"spec": info.spec, "model": info.model, "revision": info.revision, "type": info.model_type},
        "set": {
            "name": item_set.name,
            "version": item_set.version,
            "content_hash": item_set.content_hash,
            "items": len(item_set.items),
        },
        "judges": [{"id": j.id, "prompt_hash": j.prompt_hash, "official": j.official} for j in judges],
        "generation": config.params.to_json(),
        "detection": {"enabled": config.detection, "prompt_version": DETECTION_PROMPT_VERSION}
        | ({"generation": config.detection_params.to_json()} if config.detection else {}),
        "metrics": {"intervals": "protocol-3"},
    }
    if config.samples > 1:
        spec["samples"] = {"k": config.samples, "seeds": [config.params.seed + k for k in range(config.samples)]}
    return spec


def judge_details(judges: Sequence[Judge]) -> list[dict[str, Any]]:
    """What the result rows take from each judge beyond the hashed spec (family, settings):
    recorded so `rescore` can rebuild the rows with no judge at hand."""
    return [
        {
            "id": j.id,
            "family": j.family,
            "temperature": getattr(j, "temperature", None),
            "max_tokens": getattr(j, "max_tokens", None),
        }
        for j in judges
    ]


class JsonlSink:
    """Appends one record per finished task, handed to the kernel in batches (every
    SINK_BATCH records or SINK_SECONDS): a killed process loses at most the current batch,
    which the resumed run redoes. fsync only at the end."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        # Close off a torn line left by a process killed mid-write.
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "ab") as fh:
                fh.write(b"\n")
        self._fh = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._buffer: list[bytes] = []
        self._flushed_at = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        # orjson: compact UTF-8 JSON, read back by json.loads; a tenth of json.dumps's cost,
        # which at tens of thousands of records per run was a fifth of the pipeline.
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._buffer.append(line)
            if len(self._buffer) >= SINK_BATCH or time.monotonic() - self._flushed_at >= SINK_SECONDS:
                self._flush()

    def _flush(self) -> None:
        # Whole lines only, in one write: a kill between batches never tears a record.
        self._flushed_at = time.monotonic()
        if self._buffer:
            self._fh.write(b"".join(self._buffer))
            self._buffer = []
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


class RunRecord:
    """One run's directory: the spec, replies, judgements and status the stages share.

    `sink`: what the stages write through (None: the data directory the run directory is in,
    as its own local home)."""

    def __init__(self, run_dir: Path, sink: RunSink | None = None) -> None:
        self.dir = run_dir
        self.sink = sink if sink is not None else RunSink.local(run_dir.parent.parent)
        self.sink.inside(run_dir)

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.json"

    @property
    def replies_path(self) -> Path:
        return self.dir / "replies.jsonl"

    @property
    def judgements_path(self) -> Path:
        return self.dir / "judgements.jsonl"

    def exists(self) -> bool:
        return self.spec_path.is_file()

    def spec(self) -> dict[str, Any]:
        return dict(read_json(self.spec_path))

    def create(self, spec: dict[str, Any], info: ModelInfo, judges: Sequence[Judge]) -> str:
        """Write spec.json unless an earlier attempt did; the run's created_at either way."""
        if self.spec_path.exists():
            return str(read_json(self.spec_path)["created_at"])
        created_at = now_iso()
        extra = {
            "run_id": self.run_id,
            "created_at": created_at,
            "model_details": dict(info.details),
            "judge_details": judge_details(judges),
        }
        self.sink.write_json(self.spec_path, spec | extra)
        return created_at

    def replies(self) -> dict[Task, Reply]:
        """Per task, the stored reply: a success over any failure of the same task."""
        done: dict[Task, Reply] = {}
        for record in read_jsonl(self.replies_path):
            reply = Reply.from_json(record["reply"])
            task = (record["kind"], record["item_id"])
            if reply.ok or task not in done:
                done[task] = reply
        return done

    def judgements(self) -> Judgements:
        by_item: Judgements = {}
        for record in read_jsonl(self.judgements_path):
            judgement = Judgement.from_json(record)
            by_item.setdefault(judgement.item_id, {})[judgement.judge] = judgement
        return by_item

    def reply_sink(self) -> JsonlSink:
        return JsonlSink(self.sink.inside(self.replies_path))

    def judgement_sink(self) -> JsonlSink:
        return JsonlSink(self.sink.inside(self.judgements_path))

    def status(self) -> dict[str, Any] | None:
        path = self.dir / "status.json"
        return dict(read_json(path)) if path.exists() else None

    def finish(self, outcome: RunOutcome) -> RunOutcome:
        self.sink.write_json(
            self.dir / "status.json",
            {
                "status": outcome.status,
                "errors": outcome.errors,
                "reason": outcome.reason,
                "stats": outcome.stats,
                "updated_at": now_iso(),
            },
        )
        return outcome
