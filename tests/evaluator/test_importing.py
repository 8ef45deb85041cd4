import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evaluator.importing import ColumnMapping, import_items
from evaluator.items import ItemSetError, load_items

ROOT = Path(__file__).resolve().parents[2]

ROWS = [
    {"uid": "a1", "post": "I keep hurting myself when things get bad.", "tag": "self-harm"},
    {"uid": "a2", "post": "Exams are stressing me out a bit.", "tag": "Normal"},
    {"uid": "a3", "post": "I can't breathe, my heart is pounding.", "tag": "panic"},
    {"uid": "a4", "post": "", "tag": "self-harm"},
    {"uid": "a5", "post": "No label for this one.", "tag": "bipolar"},
    {"uid": "a1", "post": "Same id again.", "tag": "self-harm"},
]
MAPPING = ColumnMapping(
    text="post",
    label="tag",
    id="uid",
    default_signal="explicit",
    labels={"self-harm": "self_harm", "normal": "no_crisis", "panic": "anxiety_crisis"},
)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_import_maps_labels_and_reports_unmapped_rows(tmp_path: Path, fmt: str) -> None:
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    result = import_items(path, MAPPING)
    assert [(i.id, i.category) for i in result.items] == [
        ("a1", "self_harm"),
        ("a2", "no_crisis"),
        ("a3", "anxiety_crisis"),
    ]
    assert [(r.row, r.reason.split(" ")[0]) for r in result.rejected] == [(4, "empty"), (5, "label"), (6, "duplicate")]
    assert "bipolar" in result.rejected[1].reason
    assert "imported 3 items, 3 rows could not be mapped" in result.report()


def test_import_missing_column_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    with pytest.raises(ItemSetError, match="no column 'text'"):
        import_items(path, ColumnMapping(text="text", label="tag", default_signal="explicit"))


def test_import_cli_writes_loadable_items(tmp_path: Path) -> None:
    src = tmp_path / "d.csv"
    pd.DataFrame(ROWS).to_csv(src, index=False)
    out = tmp_path / "items.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "evaluator",
        "import",
        str(src),
        "--out",
        str(out),
        "--text-column",
        "post",
        "--label-column",
        "tag",
        "--id-column",
        "uid",
        "--default-signal",
        "indirect",
        "--map",
        "self-harm=self_harm",
        "--map",
        "normal=no_crisis",
        "--map",
        "panic=anxiety_crisis",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "row 5: label 'bipolar'" in done.stderr
    items = load_items(out)
    assert len(items) == 3 and {i.signal for i in items} == {"indirect"}

    strict = subprocess.run([*cmd, "--strict", "--force"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert strict.returncode == 2
    assert strict.stderr.strip().splitlines()[-1] == "error: 3 rows could not be mapped; nothing written (--strict)"

    bad_map = subprocess.run(
        [*cmd[:-2], "--map", "panic=panicking"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad_map.returncode == 2 and "is not one of" in bad_map.stderr
