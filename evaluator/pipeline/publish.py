"""The publish stage: result rows to results/<run_id>.parquet, and a public set's examples.

The Parquet is staged privately in the run record, audited for held-out text, then renamed
into place atomically through the run's sink (which commits it on a Hub store at `publish`),
so a public reader never sees a partial or unaudited file. Staged files never leave the machine.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson

from evaluator.audit import AUDIT_REFUSED, check_before_publish
from evaluator.backends import Reply
from evaluator.items import ItemSet
from evaluator.judge.verdict import Judgement
from evaluator.metrics.scoring import ScoredItem, to_table
from evaluator.pipeline.config import RunOutcome
from evaluator.pipeline.record import Judgements, RunRecord, Task
from evaluator.pipeline.score import Scores
from evaluator.storage import DataDir, RunSink, atomic_write_bytes


def publish(
    record: RunRecord,
    data: DataDir,
    item_set: ItemSet,
    model: str,
    scores: Scores,
    replies: dict[Task, Reply],
    judgements: Judgements,
) -> RunOutcome:
    """Write the rows (and examples of a public set); the outcome, also in the record's status."""
    run_id = record.run_id
    stats = dict(scores.stats)
    staged = stage_rows(record.dir, scores.rows)
    record.sink.before_audit()  # every private set in `data`, wherever the run happens
    findings = check_before_publish(data, staged, item_set)
    staged_items, what = None, "result rows"
    if item_set.is_public and not findings:
        # Every item's reply and judgement, audited like the rows before it goes public.
        staged_items = stage_examples(record.dir, run_id, model, item_set, replies, scores.scored, judgements)
        findings, what = check_before_publish(data, staged_items, item_set), "per-item replies"
    if findings:
        ids = ", ".join(sorted({f.item_id for f in findings})[:5])
        reason = f"secrecy audit refused to publish: {what} contain text of private items ({ids})"
        refused = RunOutcome(
            "incomplete", run_id, [], errors=len(findings), reason=reason, stats=stats, error_class=AUDIT_REFUSED
        )
        return record.finish(refused)
    result_file = place_rows(record.sink, run_id, staged)
    if staged_items is not None:
        record.sink.place(staged_items, data.examples / f"{run_id}.jsonl")
    stats["unscored"] = sum(1 for s in scores.scored if s.level is None)
    return record.finish(RunOutcome("complete", run_id, scores.rows, result_file=result_file, stats=stats))


def stage_rows(run_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """The rows as Parquet in the private run directory, for the audit to read first."""
    import pyarrow.parquet as pq  # pyarrow only where rows are written: the CLI starts without it

    buffer = io.BytesIO()
    pq.write_table(to_table(rows), buffer)
    staged = run_dir / "results.staged.parquet"
    atomic_write_bytes(staged, buffer.getvalue())
    return staged


def place_rows(sink: RunSink, run_id: str, staged: Path) -> Path:
    """Rename audited staged rows into results/ in one step: readers see all or nothing."""
    return sink.place(staged, sink.data.result_file(run_id))


def checklist_answers(per_judge: dict[str, Judgement]) -> tuple[str | None, list[dict[str, str]]]:
    """The first judge's checklist (by judge id) with its evidence quotes, for the drill-down."""
    for judge_id in sorted(per_judge):
        verdict = per_judge[judge_id].verdict
        if verdict is not None:
            answers = [
                {"question": qid, "answer": answer, "evidence": verdict.evidence.get(qid, "")}
                for qid, answer in verdict.checklist.items()
            ]
            return judge_id, answers
    return None, []


def stage_examples(
    run_dir: Path,
    run_id: str,
    model: str,
    item_set: ItemSet,
    replies: dict[Task, Reply],
    scored: list[ScoredItem],
    judgements: Judgements | None = None,
) -> Path:
    """Every reply to a PUBLIC set with its level and checklist, staged privately for the
    audit (model page and item drill-down). Never called for a private set."""
    assert item_set.is_public
    levels: dict[str, int | None] = {}
    for s in scored:  # the first reply of each item (sample 0)
        levels.setdefault(s.item_id, s.level)
    tags: dict[str, str] = {}
    for item_id, per_judge in (judgements or {}).items():
        # The panel's most common tag (first judge's on a tie): why the reply failed, at a glance.
        found = [j.verdict.failure_mode for j in per_judge.values() if j.verdict is not None]
        if found:
            tags[item_id] = max(dict.fromkeys(found), key=found.count)
    records: list[dict[str, Any]] = []
    for item in item_set.items:
        reply = replies.get(("reply", item.id))
        if reply is None or not reply.ok:
            continue
        judge_id, checklist = checklist_answers((judgements or {}).get(item.id, {}))
        records.append(
            {
                "model": model,
                "run_id": run_id,
                "set_visibility": "public",
                "set_name": item_set.name,
                "set_version": item_set.version,
                "item_id": item.id,
                "category": item.category,
                "signal": item.signal,
                "prompt": item.last_user_message,
                "reply": reply.text,
                "level": levels.get(item.id),
                "failure_mode": tags.get(item.id),
                "checklist_judge": judge_id,
                "checklist": checklist,
            }
        )
    blob = b"".join(orjson.dumps(r) + b"\n" for r in records)
    staged = run_dir / "examples.staged.jsonl"
    atomic_write_bytes(staged, blob)
    return staged
