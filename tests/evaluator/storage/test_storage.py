from pathlib import Path

from evaluator.storage import DataDir, append_jsonl, atomic_write_json, read_json, read_jsonl


def test_jsonl_survives_a_torn_append(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append_jsonl(path, [{"a": 1}])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"a": 2, "trunc')  # a writer killed mid-line
    assert read_jsonl(path) == [{"a": 1}]
    append_jsonl(path, [{"a": 3}])
    assert read_jsonl(path) == [{"a": 1}, {"a": 3}]


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "x" / "v.json"
    atomic_write_json(target, {"k": [1, 2]})
    atomic_write_json(target, {"k": [3]})
    assert read_json(target) == {"k": [3]}
    assert [p.name for p in target.parent.iterdir()] == ["v.json"]


def test_public_files_cover_only_public_areas(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    atomic_write_json(data.requests / "r.json", {})
    atomic_write_json(data.run_dir("abc") / "spec.json", {})
    (data.results).mkdir(parents=True)
    (data.results / "x.parquet").write_bytes(b"")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in data.public_files()) == [
        "requests/r.json",
        "results/x.parquet",
    ]
