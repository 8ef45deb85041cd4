"""The judge stage: a final judgement per (reply, judge), written to judgements.jsonl.

Reads the judgements the record already holds; asks again only for missing ones, unscored
ones (the judge that could not answer may have been fixed) and ones for another reply. A
judge that can answer from memory (evaluator.cache.CachingJudge) is asked first through
`recall`.
"""

from __future__ import annotations

from collections.abc import Sequence

from evaluator.backends import Reply
from evaluator.items import ItemSet
from evaluator.judge.verdict import Judge, Judgement, JudgeTask
from evaluator.pipeline.progress import QUIET, Reporter
from evaluator.pipeline.record import JsonlSink, Judgements, RunRecord, Task


def judge(
    record: RunRecord,
    runs: ItemSet,
    replies: dict[Task, Reply],
    judges: Sequence[Judge],
    progress: Reporter = QUIET,
) -> Judgements:
    """Per item id (sample ids included), per judge id, the final judgement (or the error of
    the last attempt). May raise JudgeModelChanged; what was judged before that is kept."""
    by_item = record.judgements()
    sink = record.judgement_sink()
    try:
        for one in judges:
            tasks: list[JudgeTask] = []
            for item in runs.items:
                reply = replies.get(("reply", item.id))
                if reply is None or not reply.ok:
                    continue
                task = JudgeTask(item, reply.text or "")
                have = by_item.get(item.id, {}).get(one.id)
                if have is None or not have.scored or have.reply_hash != task.reply_hash:
                    tasks.append(task)
            _stage(one, tasks, sink, by_item, progress)
    finally:
        sink.close()
    return by_item


def _stage(one: Judge, tasks: list[JudgeTask], sink: JsonlSink, by_item: Judgements, progress: Reporter) -> None:
    pending = list(range(len(tasks)))
    recall = getattr(one, "recall", None)
    if callable(recall) and tasks:
        hits: dict[int, Judgement] = recall(tasks)
        for n, hit in sorted(hits.items()):
            by_item.setdefault(tasks[n].item.id, {})[one.id] = hit
            sink.write(hit.to_json())
        pending = [n for n in pending if n not in hits]
    if not pending:
        return
    bar = progress.bar(len(pending), f"judging ({one.id})")

    def on_result(position: int, judgement: Judgement) -> None:
        by_item.setdefault(judgement.item_id, {})[judgement.judge] = judgement
        if judgement.final:
            sink.write(judgement.to_json())
        bar.update()

    try:
        one.judge([tasks[n] for n in pending], on_result)
    finally:
        bar.close()
