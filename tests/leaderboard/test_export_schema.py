"""docs/data.md documents the schema the code writes, and `leaderboard export` writes it."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluator.results import OVERALL, RESULT_COLUMNS, RESULT_SCHEMA
from evaluator.storage import DataDir
from leaderboard.cli import main
from leaderboard.hidden import hide_model
from leaderboard.store import ResultStore
from tests.support.results_factory import write_demo_board

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"
DOC_TYPES = {"string": "string", "double": "float64", "int64": "int64", "bool": "bool"}
ROW = re.compile(r"\| `(?P<name>[a-z0-9_]+)` \| (?P<type>[^|]+) \| (?P<meaning>[^|]+) \| (?P<section>[^|]+) \|")


def documented() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.fullmatch(line.strip())
        if match:
            rows.append(tuple(match.group(k).strip() for k in ("name", "type", "meaning", "section")))
    return rows  # type: ignore[return-value]


def test_every_column_is_documented_in_order_with_its_type_meaning_and_section() -> None:
    rows = documented()
    assert [r[0] for r in rows] == list(RESULT_COLUMNS)
    for (name, kind, meaning, section), field in zip(rows, RESULT_SCHEMA, strict=True):
        expected = "timestamp (UTC)" if name == "evaluated_at" else DOC_TYPES[str(field.type)]
        assert kind == expected, name
        assert len(meaning) > 10 and section.startswith("§"), name
    version_2 = {"unscored_rate", "no_label_rate", "judge_prompt_hash", "ranked", "not_ranked_reason"}
    assert version_2 <= {r[0] for r in rows if "v2" in r[3]}
    version_3 = {"track", "judge_temperature", "judge_max_tokens", "judged_replies", "unscored_replies"}
    assert version_3 <= {r[0] for r in rows if "v3" in r[3]}


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    data = DataDir.at(tmp_path / "var")
    write_demo_board(data)
    return data


def test_export_writes_one_tidy_parquet_without_hidden_models(data: DataDir, tmp_path: Path) -> None:
    hide_model(data, "other/risky-1b", "withdrawn")
    out = tmp_path / "all.parquet"
    assert main(["export", "--data", str(data.root), "--out", str(out)]) == 0
    table = pq.read_table(out)
    assert table.schema.names[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    for field in RESULT_SCHEMA:
        written = table.schema.field(field.name).type
        if field.name == "evaluated_at":  # Parquet has no seconds unit: whole seconds, stored in ms
            assert pa.types.is_timestamp(written) and written.tz == "UTC"
        else:
            assert written == field.type, field.name
    frame = table.to_pandas()
    public = ResultStore(data, persist=False).snapshot().results
    assert len(frame) == len(public) and "other/risky-1b" not in set(frame["model"])
    # Tidy: one row per model x revision x set version x judge x run x category, sorted.
    keys = ["set_name", "set_version", "judge", "model", "revision", "run_id", "category"]
    assert not frame.duplicated(keys).any()
    firsts = frame.groupby(["set_name", "set_version", "judge", "model", "run_id"], dropna=False)["category"].first()
    assert set(firsts) == {OVERALL}
    boards = list(zip(frame["set_name"], frame["set_version"], frame["judge"], strict=True))
    assert boards == sorted(boards)


def test_export_refuses_a_directory_as_output(
    data: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--data", str(data.root), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and err.count("\n") == 1
