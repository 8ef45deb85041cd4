"""The result rows of the public sample never change under a refactor (issue 19).

The stored copy was made with the CLI on the built-in public sample and the offline judge, once
per model. A change that moves code must leave every figure as it was; a column added later by
the schema (PROTOCOL: "more columns may follow") is allowed only while it is empty on these rows.
Regenerate the copy only for a deliberate change of figures, and say so in the commit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from evaluator.cli import main

STORED = Path(__file__).parent / "data" / "public_sample_rows.json"
# evaluated_at is the run's creation time; run_id hashes the run spec, which may gain fields.
RUN_SPECIFIC = ("evaluated_at", "run_id")


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[attr-defined]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _rows(model: str, data: Path) -> list[dict[str, object]]:
    assert (
        main(
            ["run", "--model", model, "--set", "public-sample", "--judge", "heuristic", "--data", str(data), "--quiet"]
        )
        == 0
    )
    (result,) = sorted((data / "results").glob("*.parquet"))
    rows = pq.read_table(result).to_pylist()
    plain = [{k: _plain(v) for k, v in row.items() if k not in RUN_SPECIFIC} for row in rows]
    # Through JSON, as the stored copy was, so floats and keys compare alike.
    return json.loads(json.dumps(sorted(plain, key=lambda r: str(r["category"])), sort_keys=True))


@pytest.mark.parametrize("model", sorted(json.loads(STORED.read_text(encoding="utf-8"))))
def test_the_public_sample_rows_are_the_stored_ones(model: str, tmp_path: Path) -> None:
    stored = json.loads(STORED.read_text(encoding="utf-8"))[model]
    current = _rows(model, tmp_path / "data")
    assert [r["category"] for r in current] == [r["category"] for r in stored]
    for old, new in zip(stored, current, strict=True):
        changed = sorted(k for k in old if old[k] != new.get(k, "<missing>"))
        assert not changed, f"{model} {old['category']}: {[(k, old[k], new.get(k, '<missing>')) for k in changed]}"
        added = sorted(k for k in set(new) - set(old) if new[k] is not None)
        assert not added, f"{model} {old['category']}: new non-empty columns {added}"
