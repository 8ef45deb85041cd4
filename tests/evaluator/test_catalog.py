"""The catalog of item sets (evaluator.catalog): the one order of versions and `resolve_set`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluator.catalog import PUBLIC_SAMPLE, list_versions, resolve_set, version_key
from evaluator.items import ItemSetError
from evaluator.storage import DataDir


def test_versions_sort_naturally() -> None:
    names = ["v10000", "v0002", "v9999", "v0001", "v10", "v9", "2024-05", "2024-11"]
    assert sorted(names, key=version_key) == ["2024-05", "2024-11", "v0001", "v0002", "v9", "v10", "v9999", "v10000"]
    # Zero-padded names within v0001..v9999 keep the order of the names as strings.
    padded = [f"v{n:04d}" for n in (1, 2, 9, 10, 99, 100, 999, 1000, 9999)]
    assert sorted(padded, key=version_key) == sorted(padded)
    # Names equal but for leading zeros still have one order (the string one), never a tie.
    assert sorted(["v1", "v01"], key=version_key) == ["v01", "v1"]
    # A character that is a digit but no decimal (a superscript) is text, not a number.
    assert sorted(["v²", "v2"], key=version_key) == ["v2", "v²"]


def _version(data: DataDir, name: str, version: str) -> None:
    folder = data.sets / name / version
    folder.mkdir(parents=True)
    shutil.copy(PUBLIC_SAMPLE, folder / "items.jsonl")


def test_resolve_set_takes_the_newest_version_in_that_order(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    for version in ("v0001", "v9999", "v10000"):
        _version(data, "held", version)
    (data.sets / "held" / ".staging" / "v10001-1").mkdir(parents=True)  # no items.jsonl: never a version
    assert resolve_set("held", data).version == "v10000"
    assert resolve_set("held@v9999", data).version == "v9999"
    assert list_versions(data, "held") == ["v0001", "v9999", "v10000"]
    with pytest.raises(ItemSetError, match="no set of that name"):
        resolve_set("held@v0002", data)
    assert resolve_set("public-sample", data).items
