"""A run: item set + backend + judge(s) + metrics, resumable at any moment.

Stages read what the previous one wrote, under runs/<run_id>/ (private):

    spec.json          everything needed to reproduce the run (written once)
    replies.jsonl      one record per finished generation (reply or detection)
    judgements.jsonl   one record per final judgement (scored, or unscored with reason)
    status.json        the outcome of the last attempt

The run id is a hash of the spec, so the same command finds the same directory and reuses
every finished reply and judgement; the cache extends that reuse across runs. Public result
rows are written only when every item has a reply and every judge has ruled, so nothing
partial is ever published as final.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from evaluator.audit import AUDIT_REFUSED, check_before_publish
from evaluator.backends import Backend, BackendOptions, GenerationParams, Reply, make_backend
from evaluator.backends.replay import recorded_generation
from evaluator.cache import Cache, generation_keys, item_content_hash, judgement_keys
from evaluator.items import Item, ItemSet, sha256_json
from evaluator.judge.factory import make_judge
from evaluator.judge.panel import aggregate, panel_alpha, same_family
from evaluator.judge.verdict import Judge, Judgement, JudgeModelChanged, JudgeTask
from evaluator.metrics.detection import detection_report
from evaluator.metrics.scoring import ScoredItem, compute_rows, to_table
from evaluator.protocol.detection import DETECTION_PROMPT_VERSION, detection_messages, parse_detection
from evaluator.protocol.taxonomy import CATEGORIES, PROTOCOL_VERSION
from evaluator.results import OVERALL, SINGLE_TURN
from evaluator.storage import DataDir, atomic_write_bytes, atomic_write_json, read_json, read_jsonl

DETECTION_MAX_NEW_TOKENS = 32
MAX_SAMPLES = 64
SAMPLE_MARK = "#sample-"
# Run-directory records are handed to the kernel in batches of this many, or this often.
SINK_BATCH = 256
SINK_SECONDS = 1.0


class RunError(RuntimeError):
    """A run that cannot start (bad spec, unreachable model); one actionable line."""


@dataclass(frozen=True)
class RunConfig:
    model: str
    item_set: ItemSet
    judges: tuple[str, ...] = ("heuristic",)
    params: GenerationParams = field(default_factory=GenerationParams)
    model_options: BackendOptions = field(default_factory=BackendOptions)
    judge_options: BackendOptions = field(default_factory=BackendOptions)
    detection: bool = True
    bootstrap_rounds: int = 1000  # no effect since protocol version 3 (no bootstrap); kept for callers
    seed: int = 0
    # Replies per item (consistency across samples): sample k is generated with seed
    # params.seed + k; more than one needs a temperature above 0.
    samples: int = 1


@dataclass(frozen=True)
class RunOutcome:
    status: str  # "complete" | "incomplete" | "stopped" | "unscored" (nothing could be scored)
    run_id: str
    rows: list[dict[str, Any]]
    errors: int = 0
    reason: str | None = None
    result_file: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error_class: str | None = None  # for "unscored": the judge's most common failure class

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


OnProgress = Callable[[str, int, int], None]  # (stage, done, total)
# (stage, run directory) at "start" (before anything is read) and after "generated" and
# "judged": where a Hub store pulls a run to resume and pushes what the stage finished.
OnStage = Callable[[str, Path], None]


class _Progress:
    """tqdm on stderr when asked for, and/or a callback (the worker publishes progress)."""

    def __init__(self, enabled: bool, total: int, desc: str, callback: OnProgress | None = None) -> None:
        self._bar: Any = None
        self._desc, self._total, self._done, self._callback = desc, total, 0, callback
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="item", leave=False, dynamic_ncols=True)
        if callback is not None:
            callback(desc, 0, total)

    def update(self, n: int = 1) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(self._desc, self._done, self._total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _JsonlSink:
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


@dataclass(frozen=True)
class _Reporter:
    bars: bool
    callback: OnProgress | None

    def bar(self, total: int, desc: str) -> _Progress:
        return _Progress(self.bars, total, desc, self.callback)


def run_id_for(spec: dict[str, Any]) -> str:
    return sha256_json(spec)[:16]


def _model_identity(backend: Backend) -> tuple[str, str | None]:
    info = backend.info
    return info.model, info.revision


def run_evaluation(
    config: RunConfig,
    data: DataDir,
    *,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
    backend: Backend | None = None,
    judges: Sequence[Judge] | None = None,
    cache: Cache | None = None,
    on_progress: OnProgress | None = None,
    on_stage: OnStage | None = None,
) -> RunOutcome:
    """Run (or resume) one evaluation. `backend`/`judges` may be injected by tests."""
    stop = should_stop or (lambda: False)
    own_backend = backend is None
    model_backend = backend or make_backend(config.model, config.model_options)
    bind = getattr(model_backend, "bind", None)
    if callable(bind):  # replay: matches conversations to items, refuses a private set to non-maintainers
        bind(config.item_set)
    if config.detection and getattr(model_backend, "has_detection", True) is False:
        # replay: a file with no detection answers runs without the prompt (null figures).
        config = replace(config, detection=False)
    judge_list = list(judges) if judges is not None else [make_judge(s, config.judge_options) for s in config.judges]
    if not judge_list:
        raise RunError("at least one judge is needed (--judge heuristic for the offline judge)")
    own_cache = cache is None
    store = cache or Cache(data.cache / "cache.sqlite")
    try:
        return _run(config, data, model_backend, judge_list, store, _Reporter(progress, on_progress), stop, on_stage)
    finally:
        if own_cache:
            store.close()
        if own_backend:
            model_backend.close()
        if judges is None:
            for judge in judge_list:
                close = getattr(judge, "close", None)
                if close:
                    close()


def _run(
    config: RunConfig,
    data: DataDir,
    backend: Backend,
    judges: list[Judge],
    cache: Cache,
    progress: _Reporter,
    stop: Callable[[], bool],
    on_stage: OnStage | None = None,
) -> RunOutcome:
    stage = on_stage or (lambda name, path: None)
    info = backend.info
    item_set = config.item_set
    if not 1 <= config.samples <= MAX_SAMPLES:
        raise RunError(f"--samples must be 1-{MAX_SAMPLES}, got {config.samples}")
    if config.samples > 1 and config.params.deterministic:
        raise RunError("--samples above 1 needs --temperature above 0: greedy decoding gives one reply K times")
    sampled, origin = _sampled(item_set, config.samples)
    detect_params = replace(config.params, max_new_tokens=min(config.params.max_new_tokens, DETECTION_MAX_NEW_TOKENS))
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
        | ({"generation": detect_params.to_json()} if config.detection else {}),
        "metrics": {"intervals": "protocol-3"},
    }
    if config.samples > 1:
        spec["samples"] = {"k": config.samples, "seeds": [config.params.seed + k for k in range(config.samples)]}
    run_id = run_id_for(spec)
    run_dir = data.run_dir(run_id)
    stage("start", run_dir)
    spec_path = run_dir / "spec.json"
    if spec_path.exists():
        created_at = read_json(spec_path)["created_at"]
    else:
        created_at = _now()
        atomic_write_json(
            spec_path, spec | {"run_id": run_id, "created_at": created_at, "model_details": dict(info.details)}
        )

    replies = _generate(config, sampled, backend, cache, run_dir, detect_params, progress)
    stage("generated", run_dir)
    if stop():
        return _finish(run_dir, RunOutcome("stopped", run_id, [], reason="stopped before judging"))
    try:
        judgements = _judge(sampled, replies, judges, cache, run_dir, progress)
    except JudgeModelChanged as exc:
        return _finish(run_dir, RunOutcome("stopped", run_id, [], reason=str(exc)))
    stage("judged", run_dir)
    served = _served_models(sampled, judgements, judges)
    mixed = {judge: ids for judge, ids in served.items() if len(ids) > 1}
    if mixed:
        judge, models = next(iter(mixed.items()))
        reason = (
            f"judge {judge} answered as {' and as '.join(repr(m) for m in sorted(models))} across this run's "
            "judgements; stopped rather than mix two judge models (pin a dated snapshot)"
        )
        return _finish(run_dir, RunOutcome("stopped", run_id, [], reason=reason))

    gen_errors = sum(1 for r in replies.values() if not r.ok)
    judge_errors = sum(
        1
        for item in sampled.items
        if (r := replies.get(("reply", item.id))) is not None and r.ok
        for j in judges
        if (got := judgements.get(item.id, {}).get(j.id)) is None or not got.final
    )
    errors = gen_errors + judge_errors
    failures = _judge_failures(sampled, replies, judgements, judges)
    stats: dict[str, Any] = {
        "generation_errors": gen_errors,
        "judge_errors": judge_errors,
        "items": len(item_set.items),
        "judge_failures": failures,
    }
    if errors:
        causes = sorted({(r.error or "").split(":")[0] for r in replies.values() if not r.ok})
        reason = (
            f"{gen_errors} generation and {judge_errors} judge calls failed"
            + (f" ({', '.join(causes)})" if causes else "")
            + (f"; judge: {_counted(failures)}" if failures else "")
            + "; run the same command again to retry them"
        )
        return _finish(run_dir, RunOutcome("incomplete", run_id, [], errors=errors, reason=reason, stats=stats))

    scored = _score_items(sampled, origin, replies, judgements, judges, config.detection)
    if not any(s.level is not None for s in scored):
        # A judge answering junk must not publish an "official" n = 0 row or finish the request.
        error_class = max(failures, key=lambda k: failures[k]) if failures else "Unscored"
        reason = (
            f"nothing was scored: no judge verdict could be used for any of the {len(scored)} items"
            + (f" ({_counted(failures)})" if failures else "")
            + "; nothing was published"
        )
        stats["unscored"] = len(scored)
        return _finish(
            run_dir,
            RunOutcome("unscored", run_id, [], errors=len(scored), reason=reason, stats=stats, error_class=error_class),
        )
    official = all(j.official for j in judges)
    alpha = panel_alpha({j.id: {i: per[j.id] for i, per in judgements.items() if j.id in per} for j in judges})
    identity: dict[str, Any] = {
        "model": info.model,
        "revision": info.revision,
        "model_type": info.model_type,
        "set_name": item_set.name,
        "set_version": item_set.version,
        "judge": "+".join(j.id for j in judges),
        "protocol_version": PROTOCOL_VERSION,
        "run_id": run_id,
        "evaluated_at": datetime.fromisoformat(created_at),
        "judge_prompt_hash": "+".join(j.prompt_hash for j in judges),
        "judge_official": official,
        "judge_alpha": alpha if len(judges) > 1 else None,
        "judge_same_family": any(same_family(j.family, info.model) for j in judges),
        "model_spec": info.spec,
        "generation_params": json.dumps(recorded_generation(info.model_type, config.params), sort_keys=True),
        "track": SINGLE_TURN,
        **judge_settings(judges),
        "judge_served_model": "+".join(next(iter(served[j.id]), "") for j in judges) if any(served.values()) else None,
    }
    rows = compute_rows(scored, identity, rounds=config.bootstrap_rounds, seed=config.seed)
    _add_run_figures(rows, scored, replies)
    buffer = io.BytesIO()
    pq.write_table(to_table(rows), buffer)
    # Stage privately, audit for held-out text, then publish with an atomic rename, so a
    # public reader never sees a partial or unaudited file.
    staged = run_dir / "results.staged.parquet"
    atomic_write_bytes(staged, buffer.getvalue())
    findings = check_before_publish(data, staged, item_set)
    if findings:
        ids = ", ".join(sorted({f.item_id for f in findings})[:5])
        reason = f"secrecy audit refused to publish: result rows contain text of private items ({ids})"
        refused = RunOutcome(
            "incomplete", run_id, [], errors=len(findings), reason=reason, stats=stats, error_class=AUDIT_REFUSED
        )
        return _finish(run_dir, refused)
    result_file = data.result_file(run_id)
    result_file.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, result_file)
    if item_set.is_public:
        _publish_examples(data, run_id, info.model, item_set, replies, scored, judgements)
    stats["unscored"] = sum(1 for s in scored if s.level is None)
    return _finish(run_dir, RunOutcome("complete", run_id, rows, result_file=result_file, stats=stats))


def _served_models(
    item_set: ItemSet, judgements: dict[str, dict[str, Judgement]], judges: list[Judge]
) -> dict[str, set[str]]:
    """Per judge id, the model ids its verdicts for this run report (cached ones included)."""
    out: dict[str, set[str]] = {j.id: set() for j in judges}
    for item in item_set.items:
        for judge_id, judgement in judgements.get(item.id, {}).items():
            if judge_id in out and judgement.final and judgement.served_model:
                out[judge_id].add(judgement.served_model)
    return out


def judge_settings(judges: Sequence[Judge]) -> dict[str, Any]:
    """The `judge_temperature` and `judge_max_tokens` columns (PROTOCOL section 8, v3).

    A judge that generates nothing (the heuristic) has no settings and adds nothing; a panel
    whose model judges agree records their settings, one whose judges differ records null
    (each judge's settings are still pinned in its prompt hash)."""
    settings = {
        (float(t), int(m))
        for j in judges
        if (t := getattr(j, "temperature", None)) is not None and (m := getattr(j, "max_tokens", None)) is not None
    }
    temperature, max_tokens = next(iter(settings)) if len(settings) == 1 else (None, None)
    return {"judge_temperature": temperature, "judge_max_tokens": max_tokens}


def _add_run_figures(rows: list[dict[str, Any]], scored: list[ScoredItem], replies: dict[Task, Reply]) -> None:
    """Overall-row figures that come from the run rather than from per-item scores."""
    overall = next(r for r in rows if r["category"] == OVERALL)
    detected = [s for s in scored if s.detection_done]
    if detected:
        report = detection_report([s.category for s in detected], [s.detected for s in detected])
        overall["detection_confusion"] = json.dumps(
            {"labels": list(CATEGORIES), "matrix": report.confusion.astype(int).tolist()}
        )
    prompt = sum(r.prompt_tokens or 0 for r in replies.values())
    completion = sum(r.completion_tokens or 0 for r in replies.values())
    overall.update(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _publish_examples(
    data: DataDir,
    run_id: str,
    model: str,
    item_set: ItemSet,
    replies: dict[Task, Reply],
    scored: list[ScoredItem],
    judgements: dict[str, dict[str, Judgement]] | None = None,
) -> None:
    """Replies to a PUBLIC set, for the model page. Never called for a private set."""
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
    records = []
    for item in item_set.items:
        reply = replies.get(("reply", item.id))
        if reply is None or not reply.ok:
            continue
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
            }
        )
    blob = b"".join(orjson.dumps(r) + b"\n" for r in records)
    atomic_write_bytes(data.public / "examples" / f"{run_id}.jsonl", blob)


def failure_class(judgement: Judgement) -> str | None:
    """Why a judgement has no verdict, as an error class; None when it has one."""
    if judgement.scored:
        return None
    named = getattr(judgement, "error_class", None)
    if isinstance(named, str) and named:
        return named
    if judgement.error is not None:
        head = judgement.error.split(":", 1)[0].strip()
        return head if head.isidentifier() else "JudgeCallError"
    return "VerdictError"  # a reply that did not parse (the judge's unscored reason)


def _judge_failures(
    item_set: ItemSet, replies: dict[Task, Reply], judgements: dict[str, dict[str, Judgement]], judges: list[Judge]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in item_set.items:
        reply = replies.get(("reply", item.id))
        if reply is None or not reply.ok:
            continue
        for judge in judges:
            got = judgements.get(item.id, {}).get(judge.id)
            cls = "NoVerdict" if got is None else failure_class(got)
            if cls is not None:
                counts[cls] = counts.get(cls, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {cls}" for cls, n in counts.items())


def _finish(run_dir: Path, outcome: RunOutcome) -> RunOutcome:
    atomic_write_json(
        run_dir / "status.json",
        {
            "status": outcome.status,
            "errors": outcome.errors,
            "reason": outcome.reason,
            "stats": outcome.stats,
            "updated_at": _now(),
        },
    )
    return outcome


Task = tuple[str, str]  # (kind, item id): kind is "reply" or "detect"


def _generate(
    config: RunConfig,
    sampled: ItemSet,
    backend: Backend,
    cache: Cache,
    run_dir: Path,
    detect_params: GenerationParams,
    progress: _Reporter,
) -> dict[Task, Reply]:
    done: dict[Task, Reply] = {}
    for record in read_jsonl(run_dir / "replies.jsonl"):
        reply = Reply.from_json(record["reply"])
        task = (record["kind"], record["item_id"])
        if reply.ok or task not in done:
            done[task] = reply
    failed_before = {t for t, r in done.items() if not r.ok}
    for task in failed_before:
        del done[task]

    sink = _JsonlSink(run_dir / "replies.jsonl")
    try:
        items = config.item_set.items
        for k in range(config.samples):
            # Sample k: its own seed, recorded in the spec; sample 0 is the plain run.
            params = replace(config.params, seed=config.params.seed + k)
            chunk = sampled.items[k * len(items) : (k + 1) * len(items)]
            _generate_stage("reply", params, [i.messages for i in chunk], chunk, backend, cache, sink, done, progress)
        if config.detection:
            conversations = [detection_messages(i) for i in items]
            _generate_stage("detect", detect_params, conversations, items, backend, cache, sink, done, progress)
    finally:
        sink.close()
    return done


def _generate_stage(
    kind: str,
    params: GenerationParams,
    conversations: Sequence[list[dict[str, str]]],
    items: Sequence[Item],
    backend: Backend,
    cache: Cache,
    sink: _JsonlSink,
    done: dict[Task, Reply],
    progress: _Reporter,
) -> None:
    pending = [n for n, item in enumerate(items) if (kind, item.id) not in done]
    keys = dict(zip(pending, generation_keys(backend.info, params, [conversations[n] for n in pending]), strict=True))
    if params.deterministic:
        hits = cache.get_replies(list(keys.values()))
        for n in pending:
            hit = hits.get(keys[n])
            if hit is not None:
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
        if params.deterministic:
            cache.put_reply(keys[n], reply)
        bar.update()

    try:
        backend.generate([conversations[n] for n in pending], params, on_reply)
    finally:
        cache.flush()
        bar.close()


def _judge(
    item_set: ItemSet,
    replies: dict[Task, Reply],
    judges: list[Judge],
    cache: Cache,
    run_dir: Path,
    progress: _Reporter,
) -> dict[str, dict[str, Judgement]]:
    """Per item id, per judge id, the final judgement (or the error of the last attempt)."""
    by_item: dict[str, dict[str, Judgement]] = {}
    for record in read_jsonl(run_dir / "judgements.jsonl"):
        judgement = Judgement.from_json(record)
        by_item.setdefault(judgement.item_id, {})[judgement.judge] = judgement

    sink = _JsonlSink(run_dir / "judgements.jsonl")
    try:
        for judge in judges:
            tasks: list[JudgeTask] = []
            for item in item_set.items:
                reply = replies.get(("reply", item.id))
                if reply is None or not reply.ok:
                    continue
                task = JudgeTask(item, reply.text or "")
                have = by_item.get(item.id, {}).get(judge.id)
                # Unscored is asked again: the judge that could not answer may have been fixed.
                if have is None or not have.scored or have.reply_hash != task.reply_hash:
                    tasks.append(task)
            _judge_stage(judge, tasks, cache, sink, by_item, progress)
    finally:
        sink.close()
    return by_item


def _judge_stage(
    judge: Judge,
    tasks: list[JudgeTask],
    cache: Cache,
    sink: _JsonlSink,
    by_item: dict[str, dict[str, Judgement]],
    progress: _Reporter,
) -> None:
    keys = judgement_keys(judge.id, judge.prompt_hash, [(item_content_hash(t.item), t.reply_hash) for t in tasks])
    hits = cache.get_judgements(keys)
    pending: list[int] = []
    for n, task in enumerate(tasks):
        hit = hits.get(keys[n])
        if hit is not None:
            # The entry may come from the same content under another id (another set).
            hit = replace(hit, item_id=task.item.id)
            by_item.setdefault(task.item.id, {})[judge.id] = hit
            sink.write(hit.to_json())
        else:
            pending.append(n)
    if not pending:
        return
    bar = progress.bar(len(pending), f"judging ({judge.id})")

    def on_result(position: int, judgement: Judgement) -> None:
        n = pending[position]
        by_item.setdefault(judgement.item_id, {})[judgement.judge] = judgement
        if judgement.final:
            sink.write(judgement.to_json())
            cache.put_judgement(keys[n], judgement)
        bar.update()

    try:
        judge.judge([tasks[n] for n in pending], on_result)
    finally:
        cache.flush()
        bar.close()


def _sampled(item_set: ItemSet, samples: int) -> tuple[ItemSet, dict[str, tuple[Item, int]]]:
    """The run's replies as items: each item once per sample, sample 0 under its own id and
    sample k under `<id>#sample-<k>` (the judge never sees an id), with the item and sample
    each stands for. One sample: the set itself."""
    origin: dict[str, tuple[Item, int]] = {item.id: (item, 0) for item in item_set.items}
    if samples == 1:
        return item_set, origin
    runs = list(item_set.items)
    for k in range(1, samples):
        for item in item_set.items:
            sample_id = f"{item.id}{SAMPLE_MARK}{k}"
            if sample_id in origin:
                raise RunError(f"item id {sample_id!r} clashes with sample {k} of item {item.id!r}; rename it")
            origin[sample_id] = (item, k)
            runs.append(replace(item, id=sample_id))
    return ItemSet(item_set.name, item_set.version, tuple(runs), item_set.visibility), origin


def _score_items(
    sampled: ItemSet,
    origin: dict[str, tuple[Item, int]],
    replies: dict[Task, Reply],
    judgements: dict[str, dict[str, Judgement]],
    judges: list[Judge],
    detection: bool,
) -> list[ScoredItem]:
    """One ScoredItem per reply, named by its item (the cluster of its samples); the crisis
    detection answer is asked once per item and goes with sample 0."""
    scored: list[ScoredItem] = []
    for run_item in sampled.items:
        item, k = origin[run_item.id]
        per_judge = [judgements[run_item.id][j.id] for j in judges if j.id in judgements.get(run_item.id, {})]
        agg = aggregate(per_judge, item.category, item.track)
        detect_reply = replies.get(("detect", item.id)) if k == 0 else None
        level = agg.level if agg is not None else None
        scored.append(
            ScoredItem(
                item_id=item.id,
                category=item.category,
                signal=item.signal,
                track=item.track,
                domain=item.domain,
                level=level,
                derived=agg.derived if agg is not None else None,
                refusal=agg.refusal if agg is not None else None,
                support=agg.support if agg is not None else None,
                detected=parse_detection(detect_reply.text) if detect_reply is not None else None,
                detection_done=detection and detect_reply is not None,
            )
        )
    return scored
