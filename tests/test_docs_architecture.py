"""docs/architecture.md cannot go stale silently (issue 19): every path of the product or the tests
it names exists (modules always by their full path), and every module of the `layers` import
contract appears in its layer diagram."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
# A path starts at one of these folders, not in the middle of another path (tests/evaluator/x.py is
# one path, not also evaluator/x.py). `<kind>` stands for a name the reader picks.
_PATH = re.compile(r"(?<![\w/.<>-])((?:evaluator|leaderboard|submissions|space|tests)/[\w./<>-]*)")


def cited_paths(text: str) -> list[str]:
    """The repository paths `text` names, each once, in order; a placeholder segment (`<group>.py`)
    and everything after it is dropped, so what is checked is the folder it sits in."""
    found: dict[str, None] = {}
    for match in _PATH.finditer(text):
        path = match.group(1).split("<", 1)[0].rstrip(".,;:")
        found[path] = None
    return list(found)


def test_the_extractor_finds_paths_and_only_whole_ones() -> None:
    text = (
        "see `evaluator/cache.py`, tests/evaluator/test_cache.py and `evaluator/cli/<group>.py`; "
        "leaderboard/boards.py. Not xevaluator/a.py or runs/<id>/ or results/<run_id>.parquet"
    )
    assert cited_paths(text) == [
        "evaluator/cache.py",
        "tests/evaluator/test_cache.py",
        "evaluator/cli/",
        "leaderboard/boards.py",
    ]


def test_every_path_the_architecture_map_cites_exists() -> None:
    paths = cited_paths(DOC.read_text(encoding="utf-8"))
    # The map names dozens of modules; a handful would mean the extractor stopped seeing them.
    assert len(paths) > 60, paths
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docs/architecture.md cites paths that do not exist (moved? update the map): {missing}"


def test_every_layer_of_the_import_contract_is_in_the_diagram() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    text = DOC.read_text(encoding="utf-8")
    diagram = text.split("## 1. Layers", 1)[1].split("```", 2)[1]
    modules = [m.strip(" ()") for layer in layers for m in layer.split(":")]
    assert len(modules) > 20, modules
    absent = [
        m
        for m in modules
        if not re.search(rf"(?<![\w.]){re.escape(m)}(?!\w)", diagram)
        and not re.search(rf"(?<!\w)\.{re.escape(m.rsplit('.', 1)[-1])}(?!\w)", diagram)
    ]
    assert not absent, f"layers of pyproject.toml missing from the diagram of docs/architecture.md: {absent}"


def test_modules_are_named_by_their_full_path() -> None:
    # A bare `core.py` escapes the existence check above; the map names modules in full.
    bare = re.findall(r"`([\w.]+\.py)`", DOC.read_text(encoding="utf-8"))
    assert not bare, f"docs/architecture.md names modules without their folder (write the full path): {bare}"
