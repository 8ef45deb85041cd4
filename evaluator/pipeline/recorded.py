"""A finished run's model and judges, rebuilt from its record: what `rejudge` and `rescore`
use instead of calling anything.

RecordedBackend answers each conversation of the run with the reply the record holds for it
(and reports the run's ModelInfo), so a re-judged run gets the spec, and the run id, of a
full run with the new judges. RecordedJudge carries a judge's pins and settings from the
spec and refuses to judge: rescoring never asks a judge.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from evaluator.backends import BackendOptions, Conversation, GenerationParams, ModelInfo, OnReply, Reply
from evaluator.backends.base import answer_each
from evaluator.items import ItemSet
from evaluator.judge.verdict import Judgement, JudgeTask, OnJudgement
from evaluator.pipeline.config import RunConfig, RunError, sampled
from evaluator.pipeline.record import RunRecord
from evaluator.protocol.detection import DETECTION_PROMPT_VERSION, detection_messages
from evaluator.protocol.taxonomy import PROTOCOL_VERSION
from evaluator.storage import DataDir

RUN_ID = re.compile(r"[0-9a-f]{16}")


def check_run_id(run_id: str) -> str:
    """`run_id` if it is one (it names a directory: nothing else may reach the file system)."""
    if not RUN_ID.fullmatch(run_id):
        raise RunError(f"{run_id[:40]!r} is not a run id (16 hex digits, as `evaluator run` prints)")
    return run_id


def finished_run(data: DataDir, run_id: str) -> tuple[RunRecord, dict[str, Any]]:
    """The record and spec of run `run_id`; RunError (one line) if there is none to reuse."""
    record = RunRecord(data.run_dir(check_run_id(run_id)))
    if not record.exists():
        raise RunError(f"no run {run_id} under {data.runs}")
    spec = record.spec()
    if spec.get("protocol_version") != PROTOCOL_VERSION or (
        spec.get("detection", {}).get("prompt_version") != DETECTION_PROMPT_VERSION
    ):
        raise RunError(
            f"run {run_id} was made under protocol {spec.get('protocol_version')} "
            f"(this engine: {PROTOCOL_VERSION}); run it again with `evaluator run`"
        )
    return record, spec


def check_set(spec: dict[str, Any], item_set: ItemSet) -> None:
    recorded = spec["set"]
    if item_set.content_hash != recorded["content_hash"]:
        raise RunError(
            f"set {item_set.name}@{item_set.version} is not the one run {spec['run_id']} used "
            f"({recorded['name']}@{recorded['version']}: its content hash differs)"
        )


def model_info(spec: dict[str, Any]) -> ModelInfo:
    model = spec["model"]
    return ModelInfo(
        spec=model["spec"],
        model=model["model"],
        revision=model["revision"],
        model_type=model["type"],
        details=dict(spec.get("model_details") or {}),
    )


def run_config(
    spec: dict[str, Any],
    item_set: ItemSet,
    judges: Sequence[str],
    judge_options: BackendOptions | None = None,
) -> RunConfig:
    """The RunConfig that gives `spec` again, with `judges` (the CLI's config for that run)."""
    params = GenerationParams(**spec["generation"])
    return RunConfig(
        model=spec["model"]["spec"],
        item_set=item_set,
        judges=tuple(judges),
        params=params,
        judge_options=judge_options or BackendOptions(),
        detection=bool(spec["detection"]["enabled"]),
        seed=params.seed,
        samples=int((spec.get("samples") or {}).get("k", 1)),
    )


def _key(params: GenerationParams, conversation: Conversation) -> str:
    blob = json.dumps([params.key(), [dict(m) for m in conversation]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RecordedBackend:
    """The run's model, answering from its record: no model is loaded or called."""

    def __init__(self, record: RunRecord, spec: dict[str, Any], item_set: ItemSet) -> None:
        self._info = model_info(spec)
        config = run_config(spec, item_set, ())
        stored = record.replies()
        runs, origin = sampled(item_set, config.samples)
        self._answers: dict[str, Reply] = {}
        for run_item in runs.items:
            item, k = origin[run_item.id]
            reply = stored.get(("reply", run_item.id))
            if reply is not None and reply.ok:
                params = replace(config.params, seed=config.params.seed + k)
                self._answers.setdefault(_key(params, run_item.messages), reply)
            detect = stored.get(("detect", item.id))
            if k == 0 and config.detection and detect is not None and detect.ok:
                self._answers.setdefault(_key(config.detection_params, detection_messages(item)), detect)

    @property
    def info(self) -> ModelInfo:
        return self._info

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        return answer_each(conversations, lambda conversation: self._recalled(params, conversation), on_reply)

    def _recalled(self, params: GenerationParams, conversation: Conversation) -> Reply:
        reply = self._answers.get(_key(params, conversation))
        if reply is None:
            return Reply.failed("RecordedReplyMissing: the run's record holds no reply for this conversation")
        return reply

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RecordedJudge:
    """A judge of a finished run, from its spec: its pins and settings, never a call."""

    id: str
    prompt_hash: str
    official: bool
    family: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    def judge(self, tasks: Sequence[JudgeTask], on_result: OnJudgement | None = None) -> list[Judgement]:
        raise RuntimeError(f"judge {self.id} is a recorded one: rescoring reads judgements, it never judges")


def recorded_judges(spec: dict[str, Any]) -> list[RecordedJudge]:
    details = {d["id"]: d for d in spec.get("judge_details") or []}
    judges = []
    for pinned in spec["judges"]:
        judge_id = str(pinned["id"])
        extra = details.get(judge_id)
        if extra is None and not judge_id.startswith("heuristic"):
            # Runs from before judge details were recorded: the family and settings of a
            # model judge are not in the record, and a guess could change a column.
            raise RunError(f"run {spec['run_id']} does not record judge {judge_id}'s settings; rejudge it instead")
        extra = extra or {}
        judges.append(
            RecordedJudge(
                id=judge_id,
                prompt_hash=str(pinned["prompt_hash"]),
                official=bool(pinned["official"]),
                family=extra.get("family"),
                temperature=extra.get("temperature"),
                max_tokens=extra.get("max_tokens"),
            )
        )
    return judges
