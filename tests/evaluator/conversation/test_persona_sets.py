"""Persona set rotation (evaluator.conversation.persona_sets): near-duplicates when freezing,
retiring with reasons, diffs of ids and counts, and secrecy of a private persona set's text in
every output and artefact."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from evaluator.audit import read_admin_log, run_audit
from evaluator.backends.base import Conversation
from evaluator.catalog import frozen_versions, list_versions, version_manifest
from evaluator.cli import main
from evaluator.conversation.persona import PUBLIC_PERSONAS_PATH, PersonaError, load_personas, resolve_personas
from evaluator.conversation.persona_sets import (
    EARLIER,
    PUBLIC,
    RETIRED,
    diff_personas,
    freeze_personas,
    retire_personas,
)
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir, atomic_write_text
from tests.support.scripted import ScriptedBackend

# Harmless filler words: synthetic personas only need distinct, respectful text.
_WORDS = (
    "morning evening garden window kitchen river bicycle letter coffee weekend sister brother neighbour office "
    "train station market bakery library notebook pencil jacket umbrella autumn winter summer spring meeting "
    "project deadline friend cousin teacher music guitar painting walk park bench cloud rain sunshine dinner"
)
VOCABULARY = _WORDS.split()
# Planted in the private persona set: no output, log line or public file may carry it.
CANARY = "persimmon lighthouse quartet"
RISK = {"suicidal_ideation": "high", "self_harm": "low", "anxiety_crisis": "high", "no_crisis": "none"}


def persona(category: str, k: int, *, seed: str = "a") -> dict[str, Any]:
    rng = random.Random(f"{category}-{k}-{seed}")
    words = " ".join(rng.choice(VOCABULARY) for _ in range(30))
    return {
        "id": f"{seed}-{category[:4]}-{k:02d}",
        "category": category,
        "risk": RISK[category],
        "disclosure": ("explicit", "indirect", "ambiguous", "late")[k % 4] if category != "no_crisis" else "explicit",
        "age_group": ("adult", "minor")[k % 2],
        "opening": f"{CANARY} opening {words[:60]}",
        "profile": f"{CANARY} situation {words}",
        "script": [
            f"{CANARY} next {k}",
            {"refused": f"{CANARY} leaving", "other": f"{CANARY} stays", "end": ["refused"]},
        ],
    }


def population(per_category: int = 4, seed: str = "a") -> list[dict[str, Any]]:
    return [persona(c, k, seed=seed) for c in RISK for k in range(per_category)]


def write(path: Path, personas: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in personas), encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    d = DataDir.at(tmp_path / "var")
    freeze_personas(d, "held", write(tmp_path / "v1.jsonl", population()), who="tester")
    return d


def test_freeze_refuses_exact_repeats_and_reports_near_ones(data: DataDir, tmp_path: Path) -> None:
    v1 = population()
    kept, dropped = v1[1:], v1[0]
    # A "new" persona copying a retired one's opening and situation is refused, naming ids only.
    copy = dropped | {"id": "a-copy", "script": ["a different script"]}
    with pytest.raises(PersonaError) as refused:
        freeze_personas(data, "held", write(tmp_path / "f.jsonl", [*kept, copy]))
    assert f"a-copy repeats {dropped['id']} ({RETIRED})" in str(refused.value)
    assert CANARY not in str(refused.value) and list_versions(data, "held") == []  # items only: none
    assert frozen_versions(data, "held") == ["v0001"]  # nothing cut
    # Two new personas repeating each other in the same file.
    fresh = persona("self_harm", 50, seed="b")
    twin = fresh | {"id": "b-twin"}
    with pytest.raises(PersonaError, match=f"b-twin repeats {fresh['id']} \\({EARLIER}\\)"):
        freeze_personas(data, "held", write(tmp_path / "f.jsonl", [*v1, fresh, twin]))
    # A near repeat (one word added to the situation) is cut and reported for a maintainer.
    near = copy | {"profile": copy["profile"] + " today"}
    cut = freeze_personas(data, "held", write(tmp_path / "f.jsonl", [*kept, near]))
    assert cut.version == "v0002" and cut.retired == [dropped["id"]] and cut.added == ["a-copy"]
    assert [(m.new_id, m.existing_id, m.existing_status) for m in cut.near] == [("a-copy", dropped["id"], RETIRED)]
    assert 0.8 <= cut.near[0].similarity < 1
    manifest = version_manifest(data, "held", "v0002")
    assert manifest["near_duplicates"][0]["of"] == dropped["id"]
    assert manifest["changelog"] == {
        "added": ["a-copy"],
        "retired": [{"id": dropped["id"], "reason": "rotation", "at": manifest["changelog"]["retired"][0]["at"]}],
    }
    assert CANARY not in json.dumps(manifest)


def test_a_private_persona_may_not_repeat_a_public_one(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    public = load_personas(PUBLIC_PERSONAS_PATH)[3].to_json() | {"id": "mine-1"}
    with pytest.raises(PersonaError, match=f"mine-1 repeats .* \\({PUBLIC}\\)"):
        freeze_personas(data, "held", write(tmp_path / "p.jsonl", [public]))
    # A public set may of course hold public personas.
    assert freeze_personas(data, "open", write(tmp_path / "p.jsonl", [public]), visibility="public").version == "v0001"
    # ... and a public set of the catalog counts as public for later private sets.
    other = persona("no_crisis", 1) | {"id": "open-2"}
    with pytest.raises(PersonaError, match="open is public \\(pass --public\\); a persona set keeps its visibility"):
        freeze_personas(data, "open", write(tmp_path / "p.jsonl", [public, other]))
    freeze_personas(data, "open", write(tmp_path / "p.jsonl", [public, other]), visibility="public")
    with pytest.raises(PersonaError, match=f"x-1 repeats open-2 \\({PUBLIC}\\)"):
        freeze_personas(data, "held", write(tmp_path / "p.jsonl", [other | {"id": "x-1"}]))
    freeze_personas(data, "held", write(tmp_path / "p.jsonl", [persona("no_crisis", 2) | {"id": "x-2"}]))
    with pytest.raises(PersonaError, match="held is private; a persona set keeps its visibility"):
        freeze_personas(data, "held", write(tmp_path / "p.jsonl", [public]), visibility="public")


def test_retired_ids_are_never_reused_and_ids_never_change(data: DataDir, tmp_path: Path) -> None:
    v1 = population()
    retire_personas(data, "held", ids=[v1[0]["id"]], reason="leaked in a forum post")
    with pytest.raises(PersonaError, match="were retired from held: a-suic-00; ids are never reused"):
        freeze_personas(data, "held", write(tmp_path / "f.jsonl", v1))
    changed = [v1[1] | {"max_turns": 3}, *v1[2:]]
    with pytest.raises(PersonaError, match="already used with other content"):
        freeze_personas(data, "held", write(tmp_path / "f.jsonl", changed))


def test_retire_cuts_a_version_with_reasons_and_keeps_visibility(data: DataDir) -> None:
    result = retire_personas(data, "held", ids=["a-self-01", "a-suic-02"], reason="seen in a training set")
    assert result.version == "v0002" and result.previous == "v0001"
    assert result.retired == ["a-self-01", "a-suic-02"] and result.added == []
    assert not result.set.is_public and len(result.set.personas) == 14
    entries = version_manifest(data, "held", "v0002")["changelog"]["retired"]
    assert [(e["id"], e["reason"]) for e in entries] == [(i, "seen in a training set") for i in result.retired]
    assert resolve_personas("held", data).version == "v0002"
    assert {p.id for p in resolve_personas("held@v0001", data).personas} >= {"a-self-01", "a-suic-02"}
    assert [r["action"] for r in read_admin_log(data)][-2:] == ["personas.freeze", "personas.retire"]
    # Retired personas of a private set are not published anywhere.
    assert not data.public.exists() or not any(p.is_file() for p in data.public.rglob("*"))
    with pytest.raises(PersonaError, match="already retired: a-self-01"):
        retire_personas(data, "held", ids=["a-self-01"])
    with pytest.raises(PersonaError, match="not in set held: nobody"):
        retire_personas(data, "held", ids=["nobody"])
    with pytest.raises(PersonaError, match="give either --ids or --category"):
        retire_personas(data, "held")
    with pytest.raises(PersonaError, match="would leave held empty"):
        retire_personas(data, "held", ids=[p.id for p in result.set.personas])
    with pytest.raises(PersonaError, match="no persona set named nothing"):
        retire_personas(data, "nothing", ids=["x"])
    assert frozen_versions(data, "held") == ["v0001", "v0002"]


def test_a_seeded_draw_is_reproducible(tmp_path: Path) -> None:
    drawn = []
    for n in range(2):
        data = DataDir.at(tmp_path / f"var{n}")
        freeze_personas(data, "held", write(tmp_path / "v1.jsonl", population(per_category=8)))
        drawn.append(retire_personas(data, "held", category="anxiety_crisis", count=3, seed=11).retired)
    assert drawn[0] == drawn[1] and len(drawn[0]) == 3 and all(i.startswith("a-anxi") for i in drawn[0])
    with pytest.raises(PersonaError, match="cannot retire 9"):
        retire_personas(data, "held", category="no_crisis", count=9, seed=1)


def test_diff_gives_ids_and_counts(data: DataDir, tmp_path: Path) -> None:
    retire_personas(data, "held", ids=["a-suic-00"], reason="leaked")
    current = [p for p in population() if p["id"] != "a-suic-00"]
    added = persona("self_harm", 9, seed="c")
    freeze_personas(data, "held", write(tmp_path / "v3.jsonl", [*current, added]))
    diff = diff_personas(data, "held", "v0001", "v0003")
    assert diff.added == [added["id"]] and diff.retired == [{"id": "a-suic-00", "reason": "leaked"}]
    assert diff.changed == []
    assert (
        diff.counts_old["category"]["suicidal_ideation"] == 4 and diff.counts_new["category"]["suicidal_ideation"] == 3
    )
    assert diff.counts_new["risk"]["low"] == diff.counts_old["risk"]["low"] + 1
    assert sum(diff.counts_new["disclosure"].values()) == 16
    with pytest.raises(PersonaError, match="no version v0009"):
        diff_personas(data, "held", "v0001", "v0009")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_private_persona_text_never_leaves_through_rotation(
    data: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every rotation command on a private set with canaries: outputs, errors, the admin log and
    everything public carry ids and counts only. The outputs are also run through the secrecy
    audit as if published, which matches long overlaps, not just the canary phrase."""
    d = str(data.root)
    v1 = population()
    copy = v1[0] | {"id": "z-copy"}
    outputs = [
        _run(capsys, "personas", "retire", "held", "--ids", "a-suic-00", "--reason", "leaked", "--data", d),
        _run(
            capsys, "personas", "retire", "held", "--category", "self_harm", "--count", "1", "--seed", "3", "--data", d
        ),
        _run(capsys, "personas", "diff", "held", "v0001", "v0003", "--data", d),
        _run(capsys, "personas", "list", "--data", d),
        _run(capsys, "personas", "show", "held", "--data", d),
        _run(
            capsys,
            "personas",
            "freeze",
            "held",
            "--from",
            str(write(tmp_path / "c.jsonl", [*v1[1:], copy])),
            "--data",
            d,
        ),
        _run(capsys, "personas", "retire", "held", "--ids", "a-suic-00", "--data", d),
    ]
    codes = [code for code, _ in outputs]
    assert codes == [0, 0, 0, 0, 0, 2, 2]
    text = "\n".join(out for _, out in outputs)
    assert "+0 added, -1 retired" in text and "retired: a-suic-00 (leaked)" in text
    assert "risk" in text and "disclosure" in text and "age_group" in text  # counts per persona field
    assert "nothing was published" in text
    assert CANARY not in text
    assert CANARY not in json.dumps(read_admin_log(data))
    assert not data.public.exists() or not any(p.is_file() for p in data.public.rglob("*"))
    assert run_audit(data) == []
    atomic_write_text(data.public / "rotation-output.txt", text)
    assert run_audit(data) == []
    # The audit does see the set, retired personas included: a public file quoting the situation
    # of the persona retired above is a finding.
    atomic_write_text(data.public / "rotation-output.txt", text + "\n" + str(v1[0]["profile"]))
    assert [f.item_id for f in run_audit(data)] == ["a-suic-00"]


def test_personas_rotation_cli_errors_are_one_line(data: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(data.root)
    for argv in (
        ["personas", "retire", "held", "--data", d],
        ["personas", "retire", "held", "--category", "self_harm", "--data", d],
        ["personas", "diff", "held", "v0001", "v0042", "--data", d],
        ["personas", "diff", "missing", "v0001", "v0002", "--data", d],
    ):
        code, out = _run(capsys, *argv)
        assert code == 2 and len(out.strip().splitlines()) == 1, argv


def test_a_rotated_private_set_publishes_no_persona_text_when_run(data: DataDir) -> None:
    """Conversations on the version a retirement cut, with a model that repeats the person:
    results, transcripts and everything public stay free of the set's text, retired or not."""
    retire_personas(data, "held", ids=["a-suic-00", "a-anxi-01"], reason="leaked")
    personas = resolve_personas("held", data)
    assert personas.version == "v0002" and not personas.is_public

    def echo(conversation: Conversation) -> str:
        return "You said: " + conversation[-1]["content"]

    config = ConversationConfig(model="talk/echo", personas=personas, max_turns=2)
    outcome = run_conversations(
        config, data, progress=False, backend=ScriptedBackend(echo, name="talk/echo"), judges=[HeuristicJudge()]
    )
    assert outcome.complete, outcome.reason
    assert any(data.results.rglob("*.parquet"))
    for path in [*data.public_files(), *data.results.rglob("*")]:
        if path.is_file():
            assert b"persimmon" not in path.read_bytes().lower(), path
    assert run_audit(data) == []
    assert b"persimmon" in (data.run_dir(outcome.run_id) / "turns.jsonl").read_bytes()  # private, kept
