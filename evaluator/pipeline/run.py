"""Whole runs: `run_evaluation` (generate, judge, score, publish), and the stages reused on a
finished run: `rejudge` (its stored replies, new judges) and `rescore` (no model, no judge).

Caching wraps the model and each judge (evaluator.cache.CachingBackend, CachingJudge); the
stages see only a backend and judges. Every file is written through the run's sink
(evaluator.storage.RunSink): `open` before anything is read, `checkpoint` after generation and
after judging; the caller calls `sink.publish()` to commit a complete run's public files.
Resuming is the record's, not the cache's: the same spec finds the same run directory and
every finished reply and judgement in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from evaluator.backends import Backend, BackendOptions, make_backend
from evaluator.cache import Cache, CachingBackend, CachingJudge
from evaluator.items import ItemSet
from evaluator.judge.factory import make_judge
from evaluator.judge.verdict import Judge, JudgeModelChanged
from evaluator.pipeline.config import RunConfig, RunError, RunOutcome, sampled
from evaluator.pipeline.generate import generate
from evaluator.pipeline.judging import judge
from evaluator.pipeline.progress import OnProgress, Reporter
from evaluator.pipeline.publish import publish
from evaluator.pipeline.record import RunRecord, build_spec, run_id_for
from evaluator.pipeline.recorded import (
    RecordedBackend,
    check_set,
    finished_run,
    model_info,
    recorded_judges,
    run_config,
)
from evaluator.pipeline.score import score
from evaluator.storage import DataDir, RunSink, read_jsonl


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
    sink: RunSink | None = None,
) -> RunOutcome:
    """Run (or resume) one evaluation. `backend`/`judges` may be injected by tests.

    `sink`: what the run writes through (None: `data` as its own local home); its store's
    directory must be `data`."""
    sink = _sink_for(data, sink)
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
    if own_cache:
        sink.start_cache()
    store = cache or Cache(data.cache / "cache.sqlite")
    try:
        cached_judges: list[Judge] = [CachingJudge(j, store) for j in judge_list]
        reporter = Reporter(progress, on_progress)
        return _run(config, data, CachingBackend(model_backend, store), cached_judges, reporter, stop, sink)
    finally:
        if own_cache:
            store.close()
        if own_backend:
            model_backend.close()
        if judges is None:
            for one in judge_list:
                close = getattr(one, "close", None)
                if close:
                    close()


def _run(
    config: RunConfig,
    data: DataDir,
    backend: Backend,
    judges: list[Judge],
    progress: Reporter,
    stop: Callable[[], bool],
    sink: RunSink,
) -> RunOutcome:
    info = backend.info
    config.check()
    runs, _ = sampled(config.item_set, config.samples)
    spec = build_spec(config, info, judges)
    record = RunRecord(sink.open(run_id_for(spec)), sink)
    created_at = record.create(spec, info, judges)

    replies = generate(record, config, backend, progress)
    sink.checkpoint("generated")
    if stop():
        return record.finish(RunOutcome("stopped", record.run_id, [], reason="stopped before judging"))
    try:
        judgements = judge(record, runs, replies, judges, progress)
    except JudgeModelChanged as exc:
        return record.finish(RunOutcome("stopped", record.run_id, [], reason=str(exc)))
    sink.checkpoint("judged")
    scores = score(record, config, info, judges, replies, judgements, created_at)
    if isinstance(scores, RunOutcome):
        return scores
    return publish(record, data, config.item_set, info.model, scores, replies, judgements)


def rejudge(
    data: DataDir,
    run_id: str,
    item_set: ItemSet,
    judge_specs: Sequence[str],
    *,
    judge_options: BackendOptions | None = None,
    judges: Sequence[Judge] | None = None,
    cache: Cache | None = None,
    progress: bool = True,
    on_progress: OnProgress | None = None,
    sink: RunSink | None = None,
) -> RunOutcome:
    """Judge run `run_id`'s stored replies with other judges, generating nothing.

    The new run has the spec a full run with those judges would have (the same model,
    set, generation and detection; other judges), so its run id and rows are that run's.
    Its record starts with the finished run's replies, written through `sink`."""
    sink = _sink_for(data, sink)
    source, spec = finished_run(data, run_id)
    check_set(spec, item_set)
    config = run_config(spec, item_set, judge_specs, judge_options)
    runs, _ = sampled(item_set, config.samples)
    replies = source.replies()
    expected = [("reply", i.id) for i in runs.items] + (
        [("detect", i.id) for i in item_set.items] if config.detection else []
    )
    missing = [t for t in expected if t not in replies or not replies[t].ok]
    if missing:
        raise RunError(
            f"run {run_id} lacks {len(missing)} of its {len(expected)} replies; "
            "finish it with `evaluator run` before judging it again"
        )
    backend = RecordedBackend(source, spec, item_set)
    judge_list = list(judges) if judges is not None else [make_judge(s, config.judge_options) for s in judge_specs]
    if not judge_list:
        raise RunError("at least one judge is needed (--judge heuristic for the offline judge)")
    try:
        target = RunRecord(data.run_dir(run_id_for(build_spec(config, backend.info, judge_list))), sink)
        if target.dir != source.dir and not target.replies_path.exists():
            copy = target.reply_sink()  # the generate stage then finds every reply done
            try:
                for line in read_jsonl(source.replies_path):
                    if line["kind"] in ("reply", "detect") and (line["kind"], line["item_id"]) in replies:
                        copy.write(line)
            finally:
                copy.close()
        return run_evaluation(
            config,
            data,
            progress=progress,
            backend=backend,
            judges=judge_list,
            cache=cache,
            on_progress=on_progress,
            sink=sink,
        )
    finally:
        if judges is None:
            for one in judge_list:
                close = getattr(one, "close", None)
                if close:
                    close()


def rescore(data: DataDir, run_id: str, item_set: ItemSet, *, sink: RunSink | None = None) -> RunOutcome:
    """Score and publish finished run `run_id` again from its record: no model, no judge is
    called; the rows (and results/<run_id>.parquet) are the ones the run wrote, through `sink`."""
    sink = _sink_for(data, sink)
    found, spec = finished_run(data, run_id)
    record = RunRecord(sink.open(found.run_id), sink)
    check_set(spec, item_set)
    status = record.status() or {}
    if status.get("status") != "complete":
        raise RunError(
            f"run {run_id} is {status.get('status', 'unfinished')}, not complete: "
            "finish it with `evaluator run` (or rejudge it) before rescoring"
        )
    judges = recorded_judges(spec)
    config = run_config(spec, item_set, [j.id for j in judges])
    info = model_info(spec)
    replies, judgements = record.replies(), record.judgements()
    scores = score(record, config, info, judges, replies, judgements, str(spec["created_at"]))
    if isinstance(scores, RunOutcome):
        return scores
    return publish(record, data, item_set, info.model, scores, replies, judgements)


def _sink_for(data: DataDir, sink: RunSink | None) -> RunSink:
    if sink is None:
        return RunSink.local(data.root)
    if sink.data.root != data.root:
        raise ValueError(f"the run's sink writes in {sink.data.root}, not in {data.root}")
    return sink
