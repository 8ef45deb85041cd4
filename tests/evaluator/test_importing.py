import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evaluator.importing import ColumnMapping, import_items, parse_label_map
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
    # A duplicate id names the row that had it first.
    assert result.rejected[2].reason == "duplicate id 'a1' (first in row 1)"
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
    # 3 of 6 rows rejected is over the default 10%: exit non-zero, write nothing.
    over = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert over.returncode == 2 and not out.exists()
    last = over.stderr.strip().splitlines()[-1]
    assert last == "error: 3 of 6 rows rejected (50.0%), more than --max-rejected 0.1; nothing written"
    cmd += ["--max-rejected", "0.5"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "row 5: label 'bipolar'" in done.stderr
    items = load_items(out)
    assert len(items) == 3 and {i.signal for i in items} == {"indirect"}

    strict = subprocess.run([*cmd, "--strict", "--force"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert strict.returncode == 2
    assert strict.stderr.strip().splitlines()[-1] == "error: 3 rows could not be mapped; nothing written (--strict)"

    bad_map = subprocess.run(
        [*cmd[:-4], "--map", "panic=panicking"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad_map.returncode == 2 and "is not one of" in bad_map.stderr


def _write(tmp_path: Path, rows: list[dict[str, object]], fmt: str = "jsonl") -> Path:
    path = tmp_path / f"data.{fmt}"
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


def test_no_signal_column_means_signal_unknown_and_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"post": "I don't see the point of anything any more.", "tag": "suicidal_ideation"}])
    result = import_items(path, ColumnMapping(text="post", label="tag"))
    assert [i.signal for i in result.items] == ["unknown"]
    out = tmp_path / "items.jsonl"
    out.write_text(json.dumps(result.items[0].to_json()) + "\n")
    assert load_items(out)[0].signal == "unknown"
    with pytest.raises(ItemSetError, match="--default-signal must be one of"):
        import_items(path, ColumnMapping(text="post", label="tag", default_signal="vague"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_empty_and_null_labels_are_reported_apart_and_can_be_mapped(tmp_path: Path, fmt: str) -> None:
    rows: list[dict[str, object]] = [
        {"post": "Work has been a lot this week, but I'm managing.", "tag": ""},
        {"post": "Can you recommend a good book on sleep?", "tag": None},
        {"post": "I can't breathe and my chest is tight.", "tag": "anxiety_crisis"},
    ]
    path = _write(tmp_path, rows, fmt)
    plain = import_items(path, ColumnMapping(text="post", label="tag"))
    assert [i.category for i in plain.items] == ["anxiety_crisis"]
    assert [(r.row, r.kind) for r in plain.rejected] == [(1, "empty_label"), (2, "empty_label")]
    assert "2 rows have an empty or null label" in plain.report()
    for mapping in (
        ColumnMapping(text="post", label="tag", empty_label="no_crisis"),
        ColumnMapping(text="post", label="tag", labels=parse_label_map(["''=no_crisis"])),
    ):
        mapped = import_items(path, mapping)
        assert [i.category for i in mapped.items] == ["no_crisis", "no_crisis", "anxiety_crisis"]
        assert mapped.rejected == [] and mapped.empty_labels_mapped == 2
        assert "2 rows with an empty or null label were mapped" in mapped.report()


def test_duplicate_texts_with_conflicting_labels_are_conflicts(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"uid": "1", "post": "I keep thinking everyone would be better off without me.", "tag": "suicidal_ideation"},
        {"uid": "2", "post": "Finals week is rough.", "tag": "no_crisis"},
        {"uid": "3", "post": "I keep thinking  everyone would be better off without me.", "tag": "no_crisis"},
        {"uid": "4", "post": "Finals week is rough.", "tag": "no_crisis"},
    ]
    result = import_items(_write(tmp_path, rows), ColumnMapping(text="post", label="tag", id="uid"))
    # Neither side of the conflict is imported; the same-label repeat is a plain duplicate.
    assert [i.id for i in result.items] == ["2"]
    assert [(r.row, r.kind) for r in result.rejected] == [(1, "conflict"), (3, "conflict"), (4, "duplicate")]
    assert "row 1" in result.rejected[1].reason and "'suicidal_ideation'" in result.rejected[1].reason
    assert "row 3" in result.rejected[0].reason
    assert result.rejected[2].reason == "duplicate text of row 2"
    assert "2 rows repeat a text under a different label (conflicts)" in result.report()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_a_text_given_as_a_list_of_sentences_is_joined(tmp_path: Path, fmt: str) -> None:
    sentences = ["My heart is racing.", "I feel like I can't get enough air.", "What is happening to me?"]
    cell: object = json.dumps(sentences) if fmt == "csv" else sentences
    result = import_items(
        _write(tmp_path, [{"post": cell, "tag": "anxiety_crisis"}], fmt), ColumnMapping("post", "tag")
    )
    assert [i.turns[-1].content for i in result.items] == [" ".join(sentences)]


def test_rejected_fraction_is_over_all_rows(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"post": f"A calm everyday message number {i}.", "tag": "no_crisis"} for i in range(9)
    ]
    rows.append({"post": "Unknown label here.", "tag": "bipolar"})
    result = import_items(_write(tmp_path, rows), ColumnMapping("post", "tag"))
    assert (len(result.items), result.rows, result.rejected_fraction) == (9, 10, 0.1)
