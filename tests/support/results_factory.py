"""Synthetic result rows (PROTOCOL section 8) and request records for leaderboard tests.

Rows follow the contract's columns and types (RESULT_SCHEMA) and are internally
consistent: rates come from integer counts, intervals are Wilson intervals of those counts,
overall figures are unweighted means over the crisis categories. They are not produced by
the evaluator, so leaderboard tests do not depend on the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from evaluator.metrics.intervals import wilson
from evaluator.protocol.taxonomy import CATEGORIES, CRISIS_CATEGORIES, DOMAINS, NO_CRISIS, PROTOCOL_VERSION, SIGNALS
from evaluator.results import OVERALL, RESULT_COLUMNS, RESULT_SCHEMA, SINGLE_TURN
from evaluator.storage import DataDir, atomic_write_bytes, atomic_write_json


@dataclass
class RunSpec:
    """One finished run of one model: what its result rows should say."""

    model: str
    harm: float = 0.1  # target harm rate for every category (rounded to counts)
    mean_level: float = 3.5
    appropriate: float = 0.5
    model_type: str = "open-weight"
    revision: str | None = "0123456789abcdef0123456789abcdef01234567"
    set_name: str = "heldout"
    set_version: str = "v1"
    judge: str = "judge-a"
    official: bool = True
    evaluated_at: datetime = field(default_factory=lambda: datetime(2025, 1, 15, 12, 0, tzinfo=UTC))
    n: int = 60  # scored support items per category
    categories: Sequence[str] = CATEGORIES
    # Per-category overrides of the harm target, e.g. {"self_harm": 0.5}.
    category_harm: Mapping[str, float] = field(default_factory=dict)
    # Per-signal overrides of the harm target, e.g. {"indirect": 0.4}.
    signal_harm: Mapping[str, float] = field(default_factory=dict)
    miss_rate: float = 0.1
    over_refusal_rate: float = 0.05
    enabling_rate: float = 0.02
    macro_f1: float = 0.8
    run_id: str | None = None
    protocol_version: str = PROTOCOL_VERSION
    track: str = SINGLE_TURN
    judge_prompt_hash: str = "p" * 12
    unscored: int = 0  # unscored support items per category (the rates stay over `n`)
    extra: Mapping[str, Any] = field(default_factory=dict)  # raw column overrides on every row


def _rate_with_interval(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    lo, hi = wilson(k, n)
    return k / n, lo, hi


def run_id_of(spec: RunSpec) -> str:
    if spec.run_id:
        return spec.run_id
    key = f"{spec.model}|{spec.revision}|{spec.set_name}|{spec.set_version}|{spec.judge}|{spec.evaluated_at}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def rows_for(spec: RunSpec) -> list[dict[str, Any]]:
    """The result rows of one run: one per category present, plus `overall`."""
    identity = {
        "model": spec.model,
        "revision": spec.revision,
        "model_type": spec.model_type,
        "set_name": spec.set_name,
        "set_version": spec.set_version,
        "judge": spec.judge,
        "protocol_version": spec.protocol_version,
        "track": spec.track,
        "run_id": run_id_of(spec),
        "evaluated_at": spec.evaluated_at,
        "judge_prompt_hash": spec.judge_prompt_hash,
        "judge_official": spec.official,
        "judge_alpha": None,
        "judge_same_family": False,
        "model_spec": spec.model if spec.model_type != "api" else f"openai:{spec.model}",
        "generation_params": json.dumps({"max_new_tokens": 1024, "temperature": 0.0}, sort_keys=True),
    }
    rows: list[dict[str, Any]] = []
    per_signal_n = max(1, spec.n // len(SIGNALS))
    for category in spec.categories:
        target = spec.category_harm.get(category, spec.harm)
        harmful = round(target * spec.n)
        appropriate = min(spec.n - harmful, round(spec.appropriate * spec.n))
        harm, harm_lo, harm_hi = _rate_with_interval(harmful, spec.n)
        app, app_lo, app_hi = _rate_with_interval(appropriate, spec.n)
        row: dict[str, Any] = {
            **identity,
            "category": category,
            "n": spec.n,
            "unscored": spec.unscored,
            "unscored_rate": spec.unscored / (spec.n + spec.unscored) if spec.n + spec.unscored else None,
            "mean_level": spec.mean_level,
            "mean_level_lo": spec.mean_level - 0.2,
            "mean_level_hi": spec.mean_level + 0.2,
            "harm_rate": harm,
            "harm_rate_lo": harm_lo,
            "harm_rate_hi": harm_hi,
            "inappropriate_rate": harm,
            "appropriate_rate": app,
            "appropriate_rate_lo": app_lo,
            "appropriate_rate_hi": app_hi,
            "full_rate": (app or 0.0) / 2,
            "referral_rate": 0.7 if category in ("suicidal_ideation", "self_harm") else None,
            "detection_recall": 1.0 - spec.miss_rate,
        }
        for signal in SIGNALS:
            s_target = spec.signal_harm.get(signal, target)
            k = round(s_target * per_signal_n)
            row[f"n_{signal}"] = per_signal_n
            row[f"harm_rate_{signal}"] = k / per_signal_n
            row[f"mean_level_{signal}"] = spec.mean_level
            row[f"appropriate_rate_{signal}"] = app
        rows.append(row)
    crisis = [r for r in rows if r["category"] in CRISIS_CATEGORIES]

    def mean(key: str) -> float | None:
        values = [r[key] for r in crisis if r.get(key) is not None]
        return sum(values) / len(values) if values else None

    overall: dict[str, Any] = {
        **identity,
        "category": OVERALL,
        "n": sum(r["n"] for r in crisis),
        "unscored": sum(r["unscored"] for r in crisis),
        **{
            key: mean(key)
            for key in (
                "mean_level",
                "mean_level_lo",
                "mean_level_hi",
                "harm_rate",
                "harm_rate_lo",
                "harm_rate_hi",
                "inappropriate_rate",
                "appropriate_rate",
                "appropriate_rate_lo",
                "appropriate_rate_hi",
                "full_rate",
                "referral_rate",
            )
        },
        "detection_accuracy": spec.macro_f1 + 0.05,
        "detection_macro_f1": spec.macro_f1,
        "miss_rate": spec.miss_rate,
        "false_alarm_rate": 0.1,
        "over_refusal_rate": spec.over_refusal_rate if NO_CRISIS in spec.categories else None,
        "bare_refusal_rate": 0.05,
        "enabling_rate": spec.enabling_rate,
        "n_adversarial": 24,
        "cognitive_mean": 3.6,
        "affective_mean": 3.2,
        "support_gap": 0.4,
        **{f"enabling_rate_{d}": spec.enabling_rate for d in DOMAINS},
        "no_label_rate": 0.0,
        "no_label_count": 0,
        "detection_n": sum(r["n"] for r in rows),
    }
    total = overall["n"] + overall["unscored"]
    overall["unscored_rate"] = overall["unscored"] / total if total else None
    unranked = overall["unscored_rate"] is not None and overall["unscored_rate"] > 0.05
    overall["ranked"] = not unranked
    overall["not_ranked_reason"] = (
        f"{overall['unscored']} of {total} replies unscored ({100 * overall['unscored_rate']:.1f}%), "
        "more than the 5% a ranked result may have"
        if unranked
        else None
    )
    for signal in SIGNALS:
        overall[f"n_{signal}"] = sum(r[f"n_{signal}"] for r in crisis)
        overall[f"harm_rate_{signal}"] = mean(f"harm_rate_{signal}")
        overall[f"mean_level_{signal}"] = mean(f"mean_level_{signal}")
        overall[f"appropriate_rate_{signal}"] = mean(f"appropriate_rate_{signal}")
    rows.insert(0, overall)
    for row in rows:
        row.update(spec.extra)
    return rows


def table_of(rows: Iterable[Mapping[str, Any]], *, extra_columns: Sequence[str] = ()) -> pa.Table:
    rows = list(rows)
    schema = RESULT_SCHEMA
    for name in extra_columns:
        schema = schema.append(pa.field(name, pa.string()))
    columns = [*RESULT_COLUMNS, *extra_columns]
    return pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows], schema=schema)


def write_run(data: DataDir, spec: RunSpec | Sequence[Mapping[str, Any]]) -> Path:
    """Write one run's rows as results/<run_id>.parquet, atomically like the evaluator."""
    rows = rows_for(spec) if isinstance(spec, RunSpec) else list(spec)
    extra = sorted({k for r in rows for k in r} - set(RESULT_COLUMNS))
    table = table_of(rows, extra_columns=extra)
    path = data.result_file(str(rows[0]["run_id"]))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
    return path


def write_runs(data: DataDir, specs: Iterable[RunSpec]) -> list[Path]:
    return [write_run(data, s) for s in specs]


def write_request(
    data: DataDir,
    model: str,
    *,
    params: float | int | None = None,
    license: str | None = None,
    model_type: str = "open-weight",
    status: str = "FINISHED",
    reason: str | None = None,
    revision: str = "0123456789abcdef0123456789abcdef01234567",
    submitted_at: str = "2025-01-10T10:00:00+00:00",
    request_id: str | None = None,
) -> Path:
    """A request record as submissions/ writes it. `params` under 100,000 means billions."""
    from submissions.records import RequestRecord, Status

    rid = request_id or "r" + hashlib.sha256(f"{model}|{revision}|{submitted_at}".encode()).hexdigest()[:12]
    count = None if params is None else int(params * 1e9 if params < 1e5 else params)
    when = datetime.fromisoformat(submitted_at)
    record = RequestRecord(
        id=rid,
        model=model,
        model_type=model_type,  # type: ignore[arg-type]
        spec=f"hf:{model}@{revision}" if model_type == "open-weight" else f"openai:{model}",
        revision="main",
        sha=revision if model_type == "open-weight" else None,
        params=count,
        license=license,
        submitter="tester",
        status=Status(status),
        reason=reason,
        submitted_at=when,
        updated_at=when,
    )
    path = data.requests / f"{rid}.json"
    atomic_write_json(path, record.to_json())
    return path


def synthetic_specs(count: int, *, seed: int = 0, **common: Any) -> list[RunSpec]:
    """`count` models with spread-out, reproducible figures (benchmarks, bulk tests)."""
    rng = random.Random(seed)
    types = ("open-weight", "open-weight", "open-weight", "api")
    specs = []
    for i in range(count):
        mtype = types[i % len(types)]
        name = f"org{i % 97}/model-{i:05d}" if mtype == "open-weight" else f"api-model-{i:05d}"
        specs.append(
            RunSpec(
                model=name,
                model_type=mtype,
                harm=rng.uniform(0.0, 0.4),
                mean_level=rng.uniform(2.0, 4.8),
                appropriate=rng.uniform(0.1, 0.9),
                miss_rate=rng.uniform(0.0, 0.3),
                macro_f1=rng.uniform(0.4, 0.95),
                run_id=f"run{i:06d}",
                **common,
            )
        )
    return specs


HOSTILE_NAME = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def write_demo_board(data: DataDir) -> None:
    """A small, varied set of boards: types, sizes, licenses, a baseline, a hostile name, an
    older run of one model, an older set version and an unofficial heuristic judge."""
    specs = [
        RunSpec("acme/safe-7b", harm=0.0, mean_level=4.5, appropriate=0.8, signal_harm={"indirect": 0.2}),
        RunSpec("acme/mid-70b", harm=0.15, mean_level=4.0, appropriate=0.7, category_harm={"self_harm": 0.5}),
        RunSpec("other/risky-1b", harm=0.45, mean_level=2.5, appropriate=0.2),
        RunSpec("api-chat", harm=0.05, mean_level=4.2, appropriate=0.75, model_type="api", revision=None),
        RunSpec("baseline:refusal", harm=0.0, mean_level=2.0, appropriate=0.0, model_type="baseline"),
        RunSpec(HOSTILE_NAME, harm=0.3, mean_level=3.0),
        RunSpec("acme/safe-7b", harm=0.9, evaluated_at=datetime(2024, 6, 1, tzinfo=UTC), run_id="old-run"),
        RunSpec("acme/safe-7b", harm=0.6, set_version="v0", run_id="v0-run"),
        RunSpec("only/on-old", harm=0.1, set_version="v0"),
        RunSpec("acme/safe-7b", harm=0.7, judge="heuristic", official=False, run_id="heur-run"),
        RunSpec("only/heuristic", harm=0.1, judge="heuristic", official=False),
        RunSpec("h2/extra", harm=0.1, judge="heuristic", official=False),
    ]
    write_runs(data, specs)
    write_request(data, "acme/safe-7b", params=7_000_000_000, license="apache-2.0")
    write_request(data, "acme/mid-70b", params=70, license="llama3")
    write_request(data, "other/risky-1b", params=1.1, license="mit")
    write_request(data, "api-chat", model_type="api")
