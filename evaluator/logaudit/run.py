"""One log audit from file to private report, resumable after a kill (PROTOCOL section 10).

The log is read twice and never copied: a first pass checks every line and hashes the file
before anything is written (bad input writes nothing), a second pass audits it in batches
of BATCH conversations. Each batch is masked, screened, judged and written as one part file
of the private run directory (`runs/log_audits/<run id>/parts/`), atomically, so a part
that exists is complete: a killed run resumes after its last part, and the figures, which
are counted from the parts alone, come out the same. The run id is a hash of the log's
content and the screener and judges, so the same command again finds the same run.

Memory is bounded by one batch, a review sample and a short list of severe conversations,
whatever the length of the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from evaluator.cache import Cache
from evaluator.clock import now_iso
from evaluator.items import sha256_json
from evaluator.judge.factory import make_judge
from evaluator.logaudit.figures import Outcome, Tally, false_negative_bound, outcome_of
from evaluator.logaudit.judging import JudgingError, judge_task, judge_turns
from evaluator.logaudit.masking import KINDS, mask
from evaluator.logaudit.reading import (
    Conversation,
    Fields,
    LogError,
    LogTurn,
    Scan,
    checked_size,
    iter_conversations,
    scan,
    unchanged,
)
from evaluator.logaudit.report import REVIEW_INSTRUCTIONS, render_markdown
from evaluator.logaudit.sampling import MAX_SAMPLE, BottomK, sample_key
from evaluator.logaudit.screening import HeuristicScreener, ModelScreener, Screener, ScreeningError
from evaluator.protocol.taxonomy import CRISIS_CATEGORIES, PROTOCOL_VERSION
from evaluator.storage import (
    DataDir,
    JsonLineError,
    Store,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    iter_jsonl,
    json_bytes,
)

if TYPE_CHECKING:
    from evaluator.backends import BackendOptions
    from evaluator.judge.verdict import Judge

AREA: Final = "log_audits"  # under runs/: private
BATCH: Final = 512
SEVERE_LISTED: Final = 20
PUSH_SECONDS: Final = 120.0
AUDIT_FORMAT: Final = "1"


class AuditError(ValueError):
    """Bad input for a log audit; the message is one line."""


def audits_dir(data: DataDir) -> Path:
    return data.runs / AREA


def run_dir(data: DataDir, run_id: str) -> Path:
    return audits_dir(data) / run_id


def run_prefix(run_id: str) -> str:
    return f"runs/{AREA}/{run_id}/"


@dataclass(frozen=True)
class AuditConfig:
    source: Path
    fmt: str
    fields: Fields = field(default_factory=Fields)
    judges: tuple[str, ...] = ("heuristic",)
    review_sample: int = 200
    seed: int = 0
    judge_options: BackendOptions | None = None


@dataclass(frozen=True)
class AuditOutcome:
    run_id: str
    run_dir: Path
    complete: bool
    report: dict[str, Any] | None = None
    reason: str | None = None


@dataclass
class _Bars:
    enabled: bool

    def bar(self, total: int, desc: str, unit: str, initial: int = 0, scale: bool = False) -> Any:
        if not self.enabled:
            return None
        from tqdm import tqdm

        return tqdm(
            total=total, initial=initial, desc=desc, unit=unit, unit_scale=scale, leave=False, dynamic_ncols=True
        )


def _judges(specs: Sequence[str], options: BackendOptions | None) -> list[Judge]:
    if not specs:
        raise AuditError("give at least one --judge")
    if len(set(specs)) != len(specs):
        raise AuditError("a judge is named twice")
    return [make_judge(spec, options) for spec in specs]


def _screener(judge: Judge, cache: Cache | None) -> Screener:
    backend = getattr(judge, "backend", None)
    if not judge.official or backend is None:
        return HeuristicScreener()
    return ModelScreener(backend, cache)


def _parts(directory: Path) -> int:
    """How many parts are complete: part files 0, 1, … without a gap."""
    done = 0
    while (directory / "parts" / f"{done:06d}.jsonl").exists():
        done += 1
    return done


def _masked(turn: LogTurn, counts: dict[str, int]) -> LogTurn:
    text = mask(turn.text, counts)
    return turn if text is turn.text else LogTurn(turn.role, text)


def _stored_id(conversation: Conversation, position: int, counts: dict[str, int]) -> str:
    masked = mask(conversation.id, counts)
    return masked if masked == conversation.id else f"masked-id-{position}"


def _audit_batch(
    batch: Sequence[Conversation], first: int, screener: Screener, judges: Sequence[Judge], cache: Cache | None
) -> list[dict[str, Any]]:
    """The stored records of one batch: masked first, then screened and judged."""
    records: list[dict[str, Any]] = []
    masked_turns: list[list[LogTurn]] = []
    contexts: list[list[LogTurn]] = []
    for offset, conversation in enumerate(batch):
        counts: dict[str, int] = {}
        stored = _stored_id(conversation, first + offset, counts)
        turns = [_masked(t, counts) for t in conversation.turns]
        masked_turns.append(turns)
        contexts += [turns[: i + 1] for i, t in enumerate(turns) if t.role == "user"]
        records.append({"n": first + offset, "id": stored, "masked": counts})
    labels = iter(screener.screen(contexts))
    tasks = []
    owners: list[tuple[int, int]] = []
    for index, (record, turns) in enumerate(zip(records, masked_turns, strict=True)):
        out_turns: list[dict[str, Any]] = []
        flag: int | None = None
        unscreened = False
        for i, turn in enumerate(turns):
            entry: dict[str, Any] = {"role": turn.role, "text": turn.text}
            if turn.role == "user":
                label = next(labels)
                entry["screen"] = label
                unscreened |= label is None
                if flag is None and label in CRISIS_CATEGORIES:
                    flag = i
            out_turns.append(entry)
        category = out_turns[flag]["screen"] if flag is not None else None
        record.update(turns=out_turns, flag=flag, category=category, unscreened=unscreened and flag is None)
        record["judged"] = []
        if flag is not None:
            for j in range(flag + 1, len(turns)):
                if turns[j].role == "assistant":
                    tasks.append(judge_task(category or "", turns[:j], turns[j].text))
                    owners.append((index, j))
    for (index, j), outcome in zip(owners, judge_turns(judges, tasks, cache), strict=True):
        records[index]["judged"].append({"turn": j, **outcome.to_json()})
    return records


def _batches(conversations: Iterator[Conversation], size: int) -> Iterator[list[Conversation]]:
    batch: list[Conversation] = []
    for conversation in conversations:
        batch.append(conversation)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def prepare(config: AuditConfig, *, progress: bool) -> tuple[Scan, list[Judge]]:
    """Everything that can refuse the input, before anything is written."""
    if not 0 <= config.review_sample <= MAX_SAMPLE:
        raise AuditError(f"--review-sample must be 0-{MAX_SAMPLE}, got {config.review_sample}")
    judges = _judges(config.judges, config.judge_options)
    bars = _Bars(progress)
    size = config.source.stat().st_size if config.source.is_file() else 0
    bar = bars.bar(size, "reading", "B", scale=True)
    try:
        found = scan(config.source, config.fmt, config.fields, on_bytes=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    return found, judges


def audit_logs(
    config: AuditConfig,
    store: Store,
    *,
    progress: bool = True,
    cache: Cache | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> AuditOutcome:
    found, judges = prepare(config, progress=progress)
    data = store.data
    own_cache = cache is None and any(j.official for j in judges)
    if own_cache:
        cache = Cache(data.cache / "cache.sqlite")
    try:
        return _audit(config, store, found, judges, cache, progress, after_batch)
    finally:
        if own_cache and cache is not None:
            cache.close()


def _audit(
    config: AuditConfig,
    store: Store,
    found: Scan,
    judges: list[Judge],
    cache: Cache | None,
    progress: bool,
    after_batch: Callable[[int], None] | None,
) -> AuditOutcome:
    data = store.data
    screener = _screener(judges[0], cache)
    identity = {
        "audit_format": AUDIT_FORMAT,
        "source_sha256": found.sha256,
        "format": config.fmt,
        "fields": config.fields.to_json(config.fmt),
        "screener": screener.id,
        "judges": [{"id": j.id, "prompt_hash": j.prompt_hash} for j in judges],
        "batch": BATCH,
    }
    run_id = "la-" + sha256_json(identity)[:16]
    directory = run_dir(data, run_id)
    store.pull(run_prefix(run_id))
    spec = {
        **identity,
        "run_id": run_id,
        "protocol_version": PROTOCOL_VERSION,
        "source": {
            "name": config.source.name,
            "sha256": found.sha256,
            "bytes": found.size,
            "format": config.fmt,
            "conversations": found.conversations,
            "turns": found.turns,
            "user_turns": found.user_turns,
        },
        "judge_specs": list(config.judges),
        "official": all(j.official for j in judges),
    }
    spec_path = directory / "spec.json"
    if not spec_path.exists():
        spec["created_at"] = now_iso()
        atomic_write_json(spec_path, spec)
    done_parts = _parts(directory)
    skip = done_parts * BATCH
    # The report's counts are gathered as parts are written; a resumed run reads its
    # finished parts once first.
    summary = Summary(config.review_sample, config.seed)
    for record in read_parts(directory):
        summary.add(record)
    bar = _Bars(progress).bar(found.conversations, "auditing", "conv", initial=min(skip, found.conversations))
    pushed_at = time.monotonic()
    pending_push: list[str] = ["spec.json"]
    reason: str | None = None
    try:
        conversations = iter_conversations(config.source, config.fmt, config.fields)
        for _ in range(skip):  # already audited: read past them
            next(conversations, None)
        part = done_parts
        for batch in _batches(conversations, BATCH):
            records = _audit_batch(batch, part * BATCH, screener, judges, cache)
            name = f"parts/{part:06d}.jsonl"
            atomic_write_bytes(directory / name, b"".join(orjson.dumps(r) + b"\n" for r in records))
            for record in records:
                summary.add(record)
            pending_push.append(name)
            part += 1
            if bar is not None:
                bar.update(len(batch))
            if time.monotonic() - pushed_at >= PUSH_SECONDS:
                store.push([run_prefix(run_id) + p for p in pending_push], f"Log audit {run_id}: progress")
                pending_push, pushed_at = [], time.monotonic()
            if after_batch is not None:
                after_batch(part)
    except (ScreeningError, JudgingError) as exc:
        reason = str(exc).splitlines()[0]
    finally:
        if bar is not None:
            bar.close()
        if pending_push:
            store.push([run_prefix(run_id) + p for p in pending_push], f"Log audit {run_id}: progress")
    if reason is not None:
        return AuditOutcome(run_id, directory, False, reason=f"{reason}; run the same command again to resume")
    if not unchanged(config.source, found):
        return AuditOutcome(run_id, directory, False, reason="the log changed during the audit; run it again")
    if _parts(directory) * BATCH < found.conversations:
        raise LogError("the audit ended before the end of the log")  # a part went missing: a bug
    report = finalize(data, run_id, summary=summary)
    store.push(
        [run_prefix(run_id) + p for p in ("report.json", "report.md", "review_sample.jsonl", "REVIEW.md")],
        f"Log audit {run_id}: report",
    )
    return AuditOutcome(run_id, directory, True, report=report)


def _own_lines(fh: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """A JSON-lines file this module wrote: a line that does not parse is damage, never skipped."""
    return iter_jsonl(fh, on_bad="raise", loads=orjson.loads)


def read_parts(directory: Path) -> Iterator[dict[str, Any]]:
    for index in range(_parts(directory)):
        with open(directory / "parts" / f"{index:06d}.jsonl", "rb") as fh:
            for _, record in _own_lines(fh):
                yield record


def read_labels(directory: Path) -> dict[str, bool]:
    path = directory / "reviewed_labels.jsonl"
    if not path.exists():
        return {}
    labels: dict[str, bool] = {}
    with open(path, "rb") as fh:
        for _, record in _own_lines(fh):
            labels[record["id"]] = bool(record["at_risk"])
    return labels


class Summary:
    """What the report needs, gathered one record at a time: the tally, masked-data counts,
    the review sample and the most severe conversations. Bounded memory."""

    def __init__(self, review_sample: int, seed: int) -> None:
        self.size, self.seed = review_sample, seed
        self.counts = dict.fromkeys(KINDS, 0)
        self.tally = Tally()
        self.sample = BottomK(review_sample)
        self.severe: list[tuple[tuple[int, ...], int, dict[str, Any]]] = []
        self.unflagged = 0

    def add(self, record: dict[str, Any]) -> None:
        for kind, n in record.get("masked", {}).items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        outcome: Outcome = outcome_of(record)
        self.tally.add(outcome)
        if not outcome.at_risk and not outcome.unscreened:
            self.unflagged += 1
            key = sample_key(self.seed, record["n"])
            if self.sample.wants(key):
                turns = [{"role": t["role"], "text": t["text"]} for t in record["turns"]]
                self.sample.offer(key, record["n"], {"id": record["id"], "turns": turns})
        elif outcome.at_risk and outcome.reasons():
            entry = {"id": record["id"], "category": outcome.category, "reasons": outcome.reasons()}
            self.severe.append((outcome.severity, record["n"], entry))
            if len(self.severe) > 4 * SEVERE_LISTED:
                self.severe = sorted(self.severe, key=lambda e: (e[0], e[1]))[:SEVERE_LISTED]

    def most_severe(self) -> list[dict[str, Any]]:
        return [e for _, _, e in sorted(self.severe, key=lambda e: (e[0], e[1]))[:SEVERE_LISTED]]


def _previous_review(directory: Path) -> dict[str, Any]:
    if not (directory / "report.json").exists():
        return {}
    review: dict[str, Any] = orjson.loads((directory / "report.json").read_bytes())["review"]
    return review


def finalize(
    data: DataDir,
    run_id: str,
    *,
    review_sample: int | None = None,
    seed: int | None = None,
    summary: Summary | None = None,
) -> dict[str, Any]:
    """Count the figures from the parts (or take a summary gathered while they were written),
    draw the review sample, write the report files. Without `review_sample`/`seed`, the ones
    of the previous report are kept."""
    directory = run_dir(data, run_id)
    spec = orjson.loads((directory / "spec.json").read_bytes())
    if summary is None:
        previous = _previous_review(directory)
        size = review_sample if review_sample is not None else int(previous.get("sample_size", 0))
        summary = Summary(size, seed if seed is not None else int(previous.get("seed", 0)))
        for record in read_parts(directory):
            summary.add(record)
    drawn = summary.sample.smallest()
    labels = read_labels(directory)
    in_sample = {c["id"] for c in drawn}
    reviewed = {k: v for k, v in labels.items() if k in in_sample}
    report = {
        "run_id": run_id,
        "protocol_version": spec.get("protocol_version"),
        "finished_at": now_iso(),
        "source": spec["source"],
        "screener": spec["screener"],
        "judges": [j["id"] for j in spec["judges"]],
        "official": spec.get("official", False),
        "masked": summary.counts,
        "conversations": summary.tally.conversations,
        "unscreened": summary.tally.unscreened,
        "figures": summary.tally.figures(),
        "review": {
            "sample_size": summary.size,
            "seed": summary.seed,
            "unflagged": summary.unflagged,
            "drawn": len(drawn),
            "labels_outside_sample": len(labels) - len(reviewed),
            "false_negative": false_negative_bound(sum(reviewed.values()), len(reviewed), summary.unflagged),
        },
        "most_severe": summary.most_severe(),
    }
    atomic_write_bytes(directory / "review_sample.jsonl", b"".join(orjson.dumps(c) + b"\n" for c in drawn))
    atomic_write_text(directory / "REVIEW.md", REVIEW_INSTRUCTIONS)
    atomic_write_bytes(directory / "report.json", json_bytes(report))
    atomic_write_text(directory / "report.md", render_markdown(report))
    return report


def find_run(data: DataDir, run_id: str) -> Path:
    if not run_id.startswith("la-") or not run_id[3:].isalnum() or len(run_id) > 40:
        raise AuditError(f"{run_id!r} is not a log audit run id (la-…)")
    directory = run_dir(data, run_id)
    if not (directory / "spec.json").exists():
        raise AuditError(f"no log audit {run_id} in this data directory")
    if not (directory / "report.json").exists():
        raise AuditError(f"log audit {run_id} is not finished; run the audit command again to finish it")
    return directory


MAX_LABEL_BYTES: Final = 16 * 1024 * 1024


def _labels(fh: Iterable[bytes], name: str) -> Iterator[tuple[int, Any]]:
    try:
        yield from iter_jsonl(fh, on_bad="raise", loads=orjson.loads)
    except JsonLineError as exc:
        raise AuditError(f"{name} line {exc.number}: not valid JSON") from None


def fold_reviews(store: Store, run_id: str, labels_path: Path) -> dict[str, Any]:
    """Check a labels file against the run's review sample, keep it, and redo the report."""
    data = store.data
    store.pull(run_prefix(run_id))
    directory = find_run(data, run_id)
    checked_size(labels_path, MAX_LABEL_BYTES, f"{MAX_LABEL_BYTES // (1024 * 1024)} MiB", AuditError)
    in_sample: set[str] = set()
    with open(directory / "review_sample.jsonl", "rb") as fh:
        in_sample = {record["id"] for _, record in _own_lines(fh)}
    given: dict[str, bool] = {}
    with open(labels_path, "rb") as fh:
        for number, record in _labels(fh, labels_path.name):
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise AuditError(f"{labels_path.name} line {number}: expected an object with an 'id'")
            if record["id"] not in in_sample:
                raise AuditError(f"{labels_path.name} line {number}: that id is not in this run's review sample")
            value = record.get("at_risk")
            if value is None:
                continue
            if not isinstance(value, bool):
                raise AuditError(f"{labels_path.name} line {number}: 'at_risk' must be true, false or null")
            if record["id"] in given:
                raise AuditError(f"{labels_path.name} line {number}: that id is labelled twice")
            given[record["id"]] = value
    if not given:
        raise AuditError(f"{labels_path.name}: no labelled conversation (nothing written)")
    merged = {**read_labels(directory), **given}
    # Ids and verdicts only: reviewers' notes could quote the conversation.
    atomic_write_bytes(
        directory / "reviewed_labels.jsonl",
        b"".join(orjson.dumps({"id": k, "at_risk": v}) + b"\n" for k, v in sorted(merged.items())),
    )
    report = finalize(data, run_id)
    store.push(
        [run_prefix(run_id) + p for p in ("reviewed_labels.jsonl", "report.json", "report.md")],
        f"Log audit {run_id}: reviewed labels",
    )
    return report
