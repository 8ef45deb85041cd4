"""The generate stage: a reply per item (per sample) and a detection answer per item.

Reads the replies the record already holds (a resumed run asks only for the rest, and
retries the ones that failed), writes each new reply to replies.jsonl as it arrives. A
backend that can answer some conversations from memory (evaluator.cache.CachingBackend)
is asked first through `recall`, and those replies are recorded as cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from evaluator.backends import Backend, GenerationParams, Reply
from evaluator.items import Item
from evaluator.pipeline.config import RunConfig, sampled
from evaluator.pipeline.progress import QUIET, Reporter
from evaluator.pipeline.record import JsonlSink, RunRecord, Task
from evaluator.protocol.detection import detection_messages


def generate(record: RunRecord, config: RunConfig, backend: Backend, progress: Reporter = QUIET) -> dict[Task, Reply]:
    """Every reply of the run, stored ones included; failed ones are retried once per call."""
    done = record.replies()
    for task in [t for t, r in done.items() if not r.ok]:
        del done[task]
    runs, _ = sampled(config.item_set, config.samples)
    sink = record.reply_sink()
    try:
        items = config.item_set.items
        for k in range(config.samples):
            # Sample k: its own seed, recorded in the spec; sample 0 is the plain run.
            params = replace(config.params, seed=config.params.seed + k)
            chunk = runs.items[k * len(items) : (k + 1) * len(items)]
            _stage("reply", params, [i.messages for i in chunk], chunk, backend, sink, done, progress)
        if config.detection:
            conversations = [detection_messages(i) for i in items]
            _stage("detect", config.detection_params, conversations, items, backend, sink, done, progress)
    finally:
        sink.close()
    return done


def _stage(
    kind: str,
    params: GenerationParams,
    conversations: Sequence[list[dict[str, str]]],
    items: Sequence[Item],
    backend: Backend,
    sink: JsonlSink,
    done: dict[Task, Reply],
    progress: Reporter,
) -> None:
    pending = [n for n, item in enumerate(items) if (kind, item.id) not in done]
    recall = getattr(backend, "recall", None)
    if callable(recall) and pending:
        hits: dict[int, Reply] = recall([conversations[n] for n in pending], params)
        for position, hit in sorted(hits.items()):
            n = pending[position]
            done[(kind, items[n].id)] = hit
            sink.write({"kind": kind, "item_id": items[n].id, "reply": hit.to_json(), "cached": True})
        pending = [n for n in pending if (kind, items[n].id) not in done]
    if not pending:
        return
    bar = progress.bar(len(pending), "generating" if kind == "reply" else "detection")

    def on_reply(position: int, reply: Reply) -> None:
        n = pending[position]
        done[(kind, items[n].id)] = reply
        sink.write({"kind": kind, "item_id": items[n].id, "reply": reply.to_json()})
        bar.update()

    try:
        backend.generate([conversations[n] for n in pending], params, on_reply)
    finally:
        bar.close()
