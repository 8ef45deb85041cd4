"""The set machinery serves every kind of set (items, personas): one near-duplicate index, one
diff, one catalog in which a name is one kind."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from evaluator.catalog import PERSONAS_FILE, frozen_versions, list_versions
from evaluator.cli import main
from evaluator.conversation.persona import PersonaError
from evaluator.conversation.persona_sets import freeze_personas
from evaluator.sets import DuplicateIndex, RotationError, Side, add_items, diff_records
from evaluator.storage import DataDir
from tests.evaluator.conversation.helpers import PERSONAS
from tests.evaluator.sets.test_sets import synthetic, write_items


@dataclass(frozen=True)
class Note:
    id: str
    body: str


LONG = "a quiet walk along the river after work with the dog and a flask of tea before the rain"


def test_one_index_for_any_record_by_its_own_text() -> None:
    index = DuplicateIndex[Note](lambda note: note.body)
    index.add(Note("n-1", LONG), "in the set")
    index.add(Note("n-2", "something else entirely, nothing like the other one at all"), "retired")
    exact = index.find(Note("n-3", LONG.upper() + "!"), 0.8)  # normalised: case and punctuation
    assert exact is not None and exact.exact and (exact.existing_id, exact.existing_status) == ("n-1", "in the set")
    near = index.find(Note("n-4", LONG + " today"), 0.8)
    assert near is not None and not near.exact and near.existing_id == "n-1" and 0.8 <= near.similarity < 1
    assert index.find(Note("n-5", "a different evening entirely, at home with a book and the radio on"), 0.8) is None
    assert index.find(Note("n-6", "!!!"), 0.8) is None  # no words, nothing to compare


def test_one_diff_for_any_kind() -> None:
    counts_a = {"category": Counter({"self_harm": 2})}
    counts_b = {"category": Counter({"self_harm": 1, "no_crisis": 1})}
    diff = diff_records(
        "held",
        Side("v0001", {"a": "h1", "b": "h2", "c": "h3"}, counts_a, "x"),
        Side("v0002", {"b": "h2", "c": "h9", "d": "h4"}, counts_b, "y"),
        {"a": "leaked"},
    )
    assert diff.added == ["d"] and diff.retired == [{"id": "a", "reason": "leaked"}] and diff.changed == ["c"]
    assert (diff.old, diff.new, diff.old_hash, diff.new_hash) == ("v0001", "v0002", "x", "y")


def test_a_name_is_one_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = DataDir.at(tmp_path / "var")
    source = tmp_path / "p.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in PERSONAS), encoding="utf-8")
    freeze_personas(data, "talk", source)
    assert list_versions(data, "talk") == [] and list_versions(data, "talk", PERSONAS_FILE) == ["v0001"]
    assert frozen_versions(data, "talk") == ["v0001"]
    items = write_items(tmp_path / "items.jsonl", synthetic("self_harm", 3))
    with pytest.raises(RotationError, match="talk is a persona set"):
        add_items(data, "talk", items)
    assert not (data.sets / "talk" / "draft.jsonl").exists()
    assert main(["sets", "show", "talk", "--data", str(data.root)]) == 2
    assert "talk is a persona set" in capsys.readouterr().err
    add_items(data, "held", items)
    with pytest.raises(PersonaError, match="held is an item set"):
        freeze_personas(data, "held", source)
