"""`python -m leaderboard`: every result row in csv, json, markdown; one-line errors, exit 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from evaluator import results as schema
from evaluator.results import PROTOCOL_COLUMNS, RESULT_COLUMNS
from evaluator.storage import DataDir
from leaderboard.cli import main
from tests.support.results_factory import RunSpec, write_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_runs(data: DataDir) -> DataDir:
    write_run(data, RunSpec("org/b", categories=("self_harm", "no_crisis")))
    write_run(data, RunSpec("org/a|pipe", categories=("suicidal_ideation",), set_version="v0"))
    return data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_default_table_has_every_section_8_column_of_every_protocol_version(
    two_runs: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    # The list comes from the schema module itself: a column a later version adds there is
    # printed by default without this test changing.
    named = schema.IDENTITY_COLUMNS + schema.CATEGORY_METRICS + schema.OVERALL_METRICS
    named += schema.PROTOCOL_V2_COLUMNS + schema.PROTOCOL_V3_COLUMNS
    assert named == schema.PROTOCOL_COLUMNS and set(named) <= set(RESULT_COLUMNS)
    for added in ("unscored_rate", "ranked", "not_ranked_reason", "no_label_rate", "judge_prompt_hash", "track"):
        assert added in named
    code, out, _ = run(capsys, "table", "--data", str(two_runs.root), "--format", "csv")
    assert code == 0
    header = next(csv.reader(io.StringIO(out)))
    assert header == list(schema.PROTOCOL_COLUMNS)
    overall = next(r for r in csv.DictReader(io.StringIO(out)) if r["category"] == "overall")
    assert overall["ranked"] == "True" and overall["unscored_rate"] != ""


def test_csv_prints_every_row_with_the_protocol_columns_in_order(
    two_runs: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "table", "--data", str(two_runs.root), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0].keys()) == list(PROTOCOL_COLUMNS)
    assert len(rows) == 3 + 2
    # Stable order: board, model, run, then overall and the categories in protocol order.
    assert [(r["set_version"], r["model"], r["category"]) for r in rows] == [
        ("v0", "org/a|pipe", "overall"),
        ("v0", "org/a|pipe", "suicidal_ideation"),
        ("v1", "org/b", "overall"),
        ("v1", "org/b", "self_harm"),
        ("v1", "org/b", "no_crisis"),
    ]
    assert rows[0]["evaluated_at"] == "2025-01-15T12:00:00+00:00"
    assert rows[1]["detection_macro_f1"] == ""  # not on category rows: null


def test_json_is_records_with_nulls(two_runs: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "table", "--data", str(two_runs.root), "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert len(records) == 5 and list(records[0]) == list(PROTOCOL_COLUMNS)
    assert records[1]["miss_rate"] is None
    assert isinstance(records[0]["n"], int)


def test_markdown_escapes_pipes(two_runs: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "table", "--data", str(two_runs.root))  # markdown is the default
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "| " + " | ".join(PROTOCOL_COLUMNS) + " |"
    assert len(lines) == 2 + 5
    assert "org/a\\|pipe" in lines[2]
    assert all(line.count(" | ") == len(PROTOCOL_COLUMNS) - 1 for line in lines[2:])


def test_all_columns(two_runs: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "table", "--data", str(two_runs.root), "--format", "csv", "--all-columns")
    assert code == 0
    header = next(csv.reader(io.StringIO(out)))
    assert header[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)


def test_no_results_yet_prints_an_empty_table(data: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    data.root.mkdir(parents=True)
    code, out, _ = run(capsys, "table", "--data", str(data.root), "--format", "json")
    assert (code, json.loads(out)) == (0, [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["table", "--data", "/no/such/dir"], "no data directory"),
        (["table", "--format", "xml"], "invalid choice"),
        (["ranking", "--board", "nope"], "no results for board"),
        (["ranking", "--columns", "bogus"], "unknown column"),
        (["export", "--out", "."], "is a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    two_runs: DataDir, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if "--data" not in argv:
        argv = [*argv, "--data", str(two_runs.root)]
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(argv))
    _, err = capsys.readouterr()
    assert exited.value.code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_unreadable_result_file_is_an_error_naming_it(two_runs: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    (two_runs.results / "zz-broken.parquet").write_text("oops")
    code, _, err = run(capsys, "table", "--data", str(two_runs.root))
    assert code == 2 and "zz-broken.parquet" in err and len(err.strip().splitlines()) == 1


def test_ranking_boards_and_export(two_runs: DataDir, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "ranking", "--data", str(two_runs.root), "--format", "csv")
    assert code == 0 and "1 of 1 model\n" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["Model"] == "org/b" and rows[0]["Rank (95%)"] == "1"

    code, out, _ = run(capsys, "boards", "--data", str(two_runs.root))
    assert code == 0 and out.splitlines()[0].startswith("heldout|v1|judge-a|")
    assert "older set version" in out.splitlines()[1]

    target = tmp_path / "all.parquet"
    code, _, err = run(capsys, "export", "--data", str(two_runs.root), "--out", str(target))
    table = pq.read_table(target)
    assert code == 0 and table.num_rows == 5 and table.column_names[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    code, _, _ = run(capsys, "export", "--data", str(two_runs.root), "--out", str(tmp_path / "all.csv"))
    assert code == 0 and (tmp_path / "all.csv").read_text().startswith("model,revision,")


def test_the_module_runs_as_a_command(two_runs: DataDir) -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "leaderboard", "table", "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0 and "--format" in helped.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "leaderboard", "table", "--data", "/no/such"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
