"""storage.read_json_objects: the one reader of a folder of JSON files (audit reports, private
logs, calibration reports), which skips what it cannot use instead of failing on it."""

from __future__ import annotations

from pathlib import Path

from evaluator.storage import atomic_write_json, read_json_objects


def test_objects_come_in_name_order_and_unusable_files_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    atomic_write_json(folder / "audit-2.json", {"n": 2})
    atomic_write_json(folder / "audit-1.json", {"n": 1})
    atomic_write_json(folder / "audit-3.json", ["not", "an", "object"])
    (folder / "audit-4.json").write_text('{"n": 4', encoding="utf-8")  # torn write
    (folder / "audit-5.json").write_bytes(b'{"n": "\xff"}')  # not UTF-8
    (folder / "audit-6.json").write_text('{"n": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    atomic_write_json(folder / "other.json", {"n": 0})

    found = list(read_json_objects(folder, "audit-*.json"))
    assert [(p.name, v) for p, v in found] == [("audit-1.json", {"n": 1}), ("audit-2.json", {"n": 2})]
    assert [v["n"] for _, v in read_json_objects(folder, reverse=True)] == [0, 2, 1]


def test_no_folder_is_nothing(tmp_path: Path) -> None:
    assert list(read_json_objects(tmp_path / "absent")) == []
