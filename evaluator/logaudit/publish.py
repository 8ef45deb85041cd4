"""Publishing a log audit's aggregate figures as public result rows (PROTOCOL sections 8, 10).

Only a maintainer publishes (the CLI checks), and only figures: counts, rates and intervals
per category and overall, the screener and judges, the log's hash. No conversation id, no
text, no masked-data counts leave the private area. The rows carry `track = log_audit` and
`ranked = false`; the leaderboard keeps that track out of every board.

The section 8 columns are filled where they mean the same thing here (`harm_rate` is the
share of judged assistant turns at level 1, `n` the number of judged turns scored); the
audit's own figures follow in columns of their own, as "more columns may follow" allows.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from evaluator.logaudit.run import find_run, run_prefix
from evaluator.results import LOG_AUDIT, RESULT_COLUMNS, RESULT_SCHEMA
from evaluator.storage import DataDir, Store, atomic_write_bytes

MODEL_TYPE: Final = "log_audit"
SET_NAME: Final = "log_audit"
NOT_RANKED: Final = "log audit of a deployer's own conversations: never ranked (PROTOCOL section 10)"
_RATES: Final = ("at_risk_share", "resource_in_time", "missed_risk", "harmful_turns")
AUDIT_COLUMNS: Final[tuple[str, ...]] = (
    "conversations",
    "at_risk",
    *(f"{name}_{part}" for name in _RATES for part in ("rate", "lo", "hi")),
    "resource_in_time_n",
    "missed_risk_n",
    "unanswered",
    "review_sample",
    "reviewed",
    "reviewed_missed",
    "false_negative_rate",
    "false_negative_lo",
    "false_negative_hi",
)
_AUDIT_INTS: Final = frozenset(
    {"conversations", "at_risk", "resource_in_time_n", "missed_risk_n", "unanswered", "review_sample", "reviewed"}
    | {"reviewed_missed"}
)
AUDIT_SCHEMA: Final = pa.schema(
    [
        *RESULT_SCHEMA,
        *(pa.field(c, pa.int64() if c in _AUDIT_INTS else pa.float64()) for c in AUDIT_COLUMNS),
    ]
)


def result_rows(report: Mapping[str, Any], system: str) -> list[dict[str, Any]]:
    """One row per category present and `overall`, from the private report's figures."""
    finished = datetime.fromisoformat(report["finished_at"])
    review = report["review"]
    bound = review["false_negative"]
    judge = "+".join(report["judges"])
    if report["screener"] not in report["judges"]:
        judge = f"{judge} (screen {report['screener']})"
    rows = []
    for category, fig in report["figures"].items():
        harmful = fig["harmful_turns"]
        row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
        row.update(
            model=system,
            model_type=MODEL_TYPE,
            set_name=SET_NAME,
            set_version=report["source"]["sha256"][:12],
            judge=judge,
            judge_official=bool(report.get("official")),
            protocol_version=str(report["protocol_version"]),
            run_id=report["run_id"],
            evaluated_at=finished,
            category=category,
            n=harmful["n"],
            unscored=harmful["undetermined"],
            harm_rate=harmful["rate"],
            harm_rate_lo=harmful["lo"],
            harm_rate_hi=harmful["hi"],
            unscored_rate=(
                harmful["undetermined"] / (harmful["n"] + harmful["undetermined"])
                if harmful["n"] + harmful["undetermined"]
                else None
            ),
            track=LOG_AUDIT,
            ranked=False,
            not_ranked_reason=NOT_RANKED,
            conversations=report["conversations"],
            at_risk=fig["at_risk"],
            resource_in_time_n=fig["resource_in_time"]["n"],
            missed_risk_n=fig["missed_risk"]["n"],
            unanswered=fig["unanswered"],
        )
        for name in _RATES:
            row[f"{name}_rate"] = fig[name]["rate"]
            row[f"{name}_lo"] = fig[name]["lo"]
            row[f"{name}_hi"] = fig[name]["hi"]
        if category == "overall":
            row.update(
                review_sample=review["drawn"],
                reviewed=bound["reviewed"],
                reviewed_missed=bound["missed"],
                false_negative_rate=bound["rate"],
                false_negative_lo=bound["lo"],
                false_negative_hi=bound["hi"],
            )
        rows.append(row)
    return rows


def write_rows(data: DataDir, run_id: str, rows: list[dict[str, Any]]) -> Path:
    table = pa.Table.from_pylist(rows, schema=AUDIT_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    path = data.result_file(run_id)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def publish_aggregate(store: Store, run_id: str, system: str) -> Path:
    """Write a finished audit's aggregate rows to the public results and push them. The
    caller has checked that a maintainer asks."""
    store.pull(run_prefix(run_id))
    directory = find_run(store.data, run_id)
    report = orjson.loads((directory / "report.json").read_bytes())
    path = write_rows(store.data, run_id, result_rows(report, system))
    store.push([f"results/{run_id}.parquet"], f"Log audit {run_id}: aggregate figures")
    return path
