"""Set versions and rotation: `python -m evaluator sets ...` and the API the Space calls."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evaluator.audit import read_admin_log, run_audit
from evaluator.catalog import resolve_set
from evaluator.cli import main
from evaluator.items import load_set
from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.sets import (
    latest_version,
    list_versions,
    load_draft,
    retire_items,
    retired_path,
)
from evaluator.storage import DataDir
from submissions.records import RequestRecord, Status
from submissions.requeue import Reevaluation, cut_and_requeue, requeue_after_cut
from submissions.store import LocalRequestStore

# Neutral filler: synthetic items only need distinct, harmless text.
_WORDS = (
    "morning evening garden window kitchen river bicycle letter coffee weekend sister brother neighbour "
    "office train station market bakery library notebook pencil jacket umbrella autumn winter summer spring "
    "meeting project deadline friend cousin teacher music guitar painting walk park bench cloud rain sunshine "
    "dinner lunch breakfast holiday journey ticket phone message email weather calendar shelf blanket candle"
)
VOCABULARY = _WORDS.split()
CANARY = "CANARY-SET-SECRET"


def synthetic(category: str, n: int, *, prefix: str = "h", seed: int = 0, track: str = "support") -> list[dict]:
    rng = random.Random(f"{category}-{prefix}-{seed}")
    out = []
    for k in range(n):
        text = " ".join(rng.choice(VOCABULARY) for _ in range(16))
        out.append(
            {
                "id": f"{prefix}-{category[:4]}-{seed}-{k:03d}",
                "category": category,
                "signal": ("explicit", "indirect", "ambiguous")[k % 3],
                "turns": [{"role": "user", "content": f"{CANARY} {text}"}],
                "track": track,
            }
        )
    return out


def balanced(per_category: int = 30, **kw: Any) -> list[dict]:
    return [item for category in CATEGORIES for item in synthetic(category, per_category, **kw)]


def write_items(path: Path, items: Sequence[object]) -> Path:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items), encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir.at(tmp_path / "var")


@pytest.fixture
def frozen(data: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> DataDir:
    """A set `held` with v0001: 30 support items per category."""
    source = write_items(tmp_path / "first.jsonl", balanced())
    assert cli(capsys, "sets", "add", "held", "--from", str(source), "--data", str(data.root))[0] == 0
    assert cli(capsys, "sets", "freeze", "held", "--data", str(data.root))[0] == 0
    return data


def test_add_then_freeze_cuts_a_loadable_private_version(frozen: DataDir) -> None:
    root = frozen.sets / "held" / "v0001"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["name"] == "held" and manifest["version"] == "v0001"
    assert manifest["visibility"] == "private"
    assert len(manifest["ids"]) == 7 * 30 and manifest["created_at"]
    assert manifest["changelog"]["added"] == sorted(manifest["ids"])
    assert manifest["changelog"]["retired"] == []
    loaded = load_set(root / "items.jsonl")
    assert loaded.content_hash == manifest["content_hash"]
    # The engine's resolver finds it by name, latest by default, and by version.
    assert resolve_set("held", frozen).version == "v0001"
    assert resolve_set("held@v0001", frozen).content_hash == manifest["content_hash"]
    assert not (frozen.sets / "held" / "draft.jsonl").exists()


def test_show_and_list_print_counts_never_text(frozen: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "sets", "show", "held", "--data", str(frozen.root))
    assert code == 0
    assert "held v0001 (private): 210 items" in out
    assert "self_harm" in out and "signal: explicit 70, indirect 70, ambiguous 70" in out
    assert "track: support 210, adversarial 0" in out
    assert CANARY not in out
    code, out, _ = cli(capsys, "sets", "list", "--data", str(frozen.root))
    assert code == 0 and "held: 1 version, latest v0001 (210 items)" in out and CANARY not in out


def test_reveal_needs_a_maintainer_machine(
    frozen: DataDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRISIS_MAINTAINER_MACHINE", raising=False)
    code, out, err = cli(capsys, "sets", "show", "held", "--reveal", "--data", str(frozen.root))
    assert code == 2 and "CRISIS_MAINTAINER_MACHINE=1" in err and CANARY not in out + err
    monkeypatch.setenv("CRISIS_MAINTAINER_MACHINE", "1")
    code, out, _ = cli(capsys, "sets", "show", "held", "--reveal", "--data", str(frozen.root))
    assert code == 0 and out.count(CANARY) == 210


def test_freeze_refuses_below_the_minimum_and_says_what_is_missing(
    data: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [i for i in balanced() if i["category"] != "self_harm"] + synthetic("self_harm", 12)
    # Adversarial items do not count: category figures are computed on support items.
    items += synthetic("violent_thoughts", 5, prefix="adv", track="adversarial")
    source = write_items(tmp_path / "few.jsonl", items)
    assert cli(capsys, "sets", "add", "held", "--from", str(source), "--data", str(data.root))[0] == 0
    code, _, err = cli(capsys, "sets", "freeze", "held", "--data", str(data.root))
    assert code == 2
    assert err.count("\n") == 1
    assert "self_harm has 12 items, needs 30" in err
    assert "violent_thoughts" not in err
    assert list_versions(data, "held") == []
    code, _, _ = cli(capsys, "sets", "freeze", "held", "--min-per-category", "10", "--data", str(data.root))
    assert code == 0 and latest_version(data, "held") == "v0001"


def test_rotation_retires_reproducibly_and_publishes_on_cut(
    frozen: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(frozen.root)
    fresh = synthetic("self_harm", 3, prefix="new") + synthetic("anxiety_crisis", 1, prefix="new")
    assert (
        cli(capsys, "sets", "add", "held", "--from", str(write_items(tmp_path / "f.jsonl", fresh)), "--data", d)[0] == 0
    )
    code, out, _ = cli(
        capsys, "sets", "retire", "held", "--category", "no_crisis", "--count", "3", "--seed", "7", "--data", d
    )
    assert code == 0 and "retired 3 items" in out and CANARY not in out
    assert len(load_draft(frozen, "held").items) == 210 + 4 - 3
    code, out, _ = cli(capsys, "sets", "retire", "held", "--ids", "h-anxi-0-000", "--reason", "leaked", "--data", d)
    assert code == 0 and "h-anxi-0-000" in out
    assert not retired_path(frozen, "held").exists()  # published only when the version is cut

    code, out, _ = cli(capsys, "sets", "freeze", "held", "--no-requeue", "--data", d)
    assert code == 0 and "v0002" in out
    manifest = json.loads((frozen.sets / "held" / "v0002" / "manifest.json").read_text())
    assert manifest["previous"] == "v0001"
    assert sorted(manifest["changelog"]["added"]) == ["new-anxi-0-000"] + [f"new-self-0-00{k}" for k in range(3)]
    reasons = {e["id"]: e["reason"] for e in manifest["changelog"]["retired"]}
    assert reasons["h-anxi-0-000"] == "leaked"
    assert len(reasons) == 4 and sum(r == "rotation" for r in reasons.values()) == 3

    published = retired_path(frozen, "held")
    rows = [json.loads(line) for line in published.read_text().splitlines()]
    assert {r["id"] for r in rows} == set(reasons)
    leaked = next(r for r in rows if r["id"] == "h-anxi-0-000")
    assert leaked["retired_reason"] == "leaked" and leaked["retired_in"] == "v0002"
    public_set = load_set(published)
    assert public_set.is_public and len(public_set.items) == 4
    # Public on purpose, so the secrecy audit does not flag them.
    assert run_audit(frozen) == []

    code, out, _ = cli(capsys, "sets", "diff", "held", "v0001", "v0002", "--data", d)
    assert code == 0
    assert "+4 added, -4 retired" in out and "retired: h-anxi-0-000 (leaked)" in out and CANARY not in out


def test_the_same_seed_draws_the_same_items(frozen: DataDir) -> None:
    first = retire_items(frozen, "held", category="no_crisis", count=4, seed=11)
    other = DataDir.at(frozen.root.parent / "copy")
    import shutil

    shutil.copytree(frozen.root, other.root)
    (other.sets / "held" / "draft.jsonl").unlink()
    (other.sets / "held" / "draft.json").unlink()
    again = retire_items(other, "held", category="no_crisis", count=4, seed=11)
    assert first.retired == again.retired and len(first.retired) == 4
    different = retire_items(other, "held", category="suicidal_ideation", count=4, seed=12)
    assert set(different.retired).isdisjoint(first.retired)


def test_balance_tolerance(frozen: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(frozen.root)
    extra = write_items(tmp_path / "extra.jsonl", synthetic("anxiety_crisis", 30, prefix="more"))
    assert cli(capsys, "sets", "add", "held", "--from", str(extra), "--data", d)[0] == 0
    code, _, err = cli(capsys, "sets", "freeze", "held", "--no-requeue", "--data", d)
    assert code == 2
    assert "anxiety_crisis is 25.0% of the set, was 14.3% in v0001 (tolerance ±5.0%)" in err
    code, _, _ = cli(capsys, "sets", "freeze", "held", "--no-requeue", "--tolerance", "12%", "--data", d)
    assert code == 0


def test_nothing_to_freeze(frozen: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "sets", "freeze", "held", "--data", str(frozen.root))
    assert code == 2 and "nothing to freeze" in err


def test_add_reports_duplicates_by_id_never_text(
    frozen: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = next(i for i in balanced() if i["id"] == "h-suic-0-005")
    text = original["turns"][0]["content"]
    shouted = "  " + text.upper().replace(" ", ",  ") + "!!"
    near = " ".join([*text.split()[:-1], "elephant"])
    copy = {**original, "id": "dup-1", "turns": [{"role": "user", "content": shouted}]}
    close = {**original, "id": "dup-2", "turns": [{"role": "user", "content": near}]}
    twin = {**original, "id": "dup-3", "turns": [{"role": "user", "content": "entirely new words " * 4}]}
    twin_again = {**twin, "id": "dup-4"}
    source = write_items(tmp_path / "dups.jsonl", [copy, close, twin, twin_again])
    code, out, err = cli(capsys, "sets", "add", "held", "--from", str(source), "--data", str(frozen.root))
    assert code == 0
    assert "skipped dup-1: exact duplicate of h-suic-0-005 (in the set)" in out
    assert "check dup-2: near-duplicate of h-suic-0-005 (in the set, similarity" in out
    assert "skipped dup-4: exact duplicate of dup-3 (earlier in this file)" in out
    assert "added 2 items" in out
    assert CANARY not in out + err and "elephant" not in out + err
    assert {"dup-2", "dup-3"} <= load_draft(frozen, "held").ids


def test_add_refuses_used_and_retired_ids_and_invalid_files(
    frozen: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(frozen.root)
    clash = write_items(tmp_path / "clash.jsonl", synthetic("self_harm", 1))
    code, _, err = cli(capsys, "sets", "add", "held", "--from", str(clash), "--data", d)
    assert code == 2 and "h-self-0-000" in err and "already in set held" in err

    retire_items(frozen, "held", ids=["h-self-0-001"], reason="leaked")
    again = write_items(
        tmp_path / "again.jsonl", [synthetic("self_harm", 2)[1] | {"turns": [{"role": "user", "content": "x y"}]}]
    )
    code, _, err = cli(capsys, "sets", "add", "held", "--from", str(again), "--data", d)
    assert code == 2 and "were retired" in err

    bad = write_items(tmp_path / "bad.jsonl", [synthetic("self_harm", 1, prefix="z")[0] | {"signal": "loud"}])
    code, _, err = cli(capsys, "sets", "add", "held", "--from", str(bad), "--data", d)
    assert code == 2 and "bad.jsonl line 1: field 'signal'" in err and err.count("\n") == 1 and CANARY not in err


def test_retire_errors(frozen: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(frozen.root)
    code, _, err = cli(capsys, "sets", "retire", "held", "--ids", "nope", "--data", d)
    assert code == 2 and "not in set held: nope" in err
    code, _, err = cli(capsys, "sets", "retire", "held", "--category", "self_harm", "--count", "3", "--data", d)
    assert code == 2 and "--seed" in err
    code, _, err = cli(
        capsys, "sets", "retire", "held", "--category", "self_harm", "--count", "99", "--seed", "1", "--data", d
    )
    assert code == 2 and "has 30 self_harm items" in err
    code, _, err = cli(capsys, "sets", "retire", "missing", "--ids", "x", "--data", d)
    assert code == 2 and "no set named missing" in err


def test_actions_are_logged(frozen: DataDir) -> None:
    actions = [r["action"] for r in read_admin_log(frozen)]
    assert actions == ["sets.add", "sets.freeze"]
    assert all(r["who"] and r["at"] for r in read_admin_log(frozen))
    assert not any(CANARY in json.dumps(r) for r in read_admin_log(frozen))


# ---------------------------------------------------------------- re-evaluation after a cut


def finished_record(n: int, model_type: str, version: str = "v0001", **changes: Any) -> RequestRecord:
    at = datetime(2025, 1, 10, 10, n, tzinfo=UTC)
    fields: dict[str, Any] = {
        "open-weight": {
            "model": f"org/model-{n}",
            "spec": f"hf:org/model-{n}@{'a' * 40}",
            "revision": "main",
            "sha": "a" * 40,
        },
        "api": {"model": f"api-model-{n}", "spec": f"openai:api-model-{n}", "base_url": "https://api.example.com/v1"},
        "baseline": {"model": "baseline:refusal", "spec": "baseline:refusal"},
    }[model_type]
    values: dict[str, Any] = {
        "id": f"20250110-10{n:02d}00-{n:08x}",
        "model_type": model_type,
        "submitter": f"user{n}",
        "set_name": "held",
        "set_version": version,
        "status": Status.FINISHED,
        "submitted_at": at,
        "updated_at": at,
        "finished_at": at,
        "run_id": f"run{n}",
        "attempts": 1,
    }
    return RequestRecord(**(values | fields | changes))


def test_cut_queues_every_model_finished_on_the_previous_version(
    frozen: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalRequestStore(frozen)
    for record in (
        finished_record(1, "open-weight"),
        finished_record(2, "api"),
        finished_record(3, "baseline"),
        finished_record(4, "open-weight", status=Status.FAILED),  # not finished: not re-run
        finished_record(5, "open-weight", version="v0000"),  # another version
    ):
        store.create(record)
    retire_items(frozen, "held", category="no_crisis", count=1, seed=0)
    code, out, err = cli(capsys, "sets", "freeze", "held", "--data", str(frozen.root))
    assert code == 0, err
    assert "re-evaluation queued for 3 models finished on v0001" in out
    queued = [r for r in store.all() if r.status == Status.PENDING]
    assert sorted(r.model for r in queued) == ["api-model-2", "baseline:refusal", "org/model-1"]
    assert all(r.set_name == "held" and r.set_version == "v0002" and r.priority == 10 for r in queued)
    open_weight = next(r for r in queued if r.model == "org/model-1")
    assert open_weight.sha == "a" * 40 and open_weight.attempts == 0 and open_weight.run_id is None
    api = next(r for r in queued if r.model_type == "api")
    assert api.base_url == "https://api.example.com/v1"
    # Running it again queues nothing twice.
    again = requeue_after_cut(frozen, "held", "v0001", "v0002")
    assert again.queued == [] and len(again.skipped) == 3


def test_freeze_no_requeue_cuts_and_queues_nothing(frozen: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    store = LocalRequestStore(frozen)
    store.create(finished_record(1, "open-weight"))
    retire_items(frozen, "held", category="no_crisis", count=1, seed=0)
    code, out, err = cli(capsys, "sets", "freeze", "held", "--no-requeue", "--data", str(frozen.root))
    assert code == 0, err
    assert "cut held v0002" in out and "re-evaluation" not in out
    assert [r.status for r in store.all()] == [Status.FINISHED]


def test_requeue_with_an_injected_enqueue(frozen: DataDir) -> None:
    store = LocalRequestStore(frozen)
    store.create(finished_record(1, "open-weight"))
    store.create(finished_record(2, "baseline"))
    calls: list[tuple[Reevaluation, int]] = []

    def enqueue(job: Reevaluation, priority: int) -> str | None:
        calls.append((job, priority))
        if job.model_type == "baseline":
            raise ValueError("queue is closed")
        return "new-id"

    retire_items(frozen, "held", category="no_crisis", count=1, seed=0)
    result = cut_and_requeue(frozen, "held", enqueue=enqueue)
    assert result.version == "v0002"
    assert result.requeue is not None
    assert result.requeue.queued == [("org/model-1", "new-id")]
    assert result.requeue.failed == [("baseline:refusal", "queue is closed")]
    assert [(c[0].spec, c[0].set_version, c[1]) for c in calls] == [
        (f"hf:org/model-1@{'a' * 40}", "v0002", 10),
        ("baseline:refusal", "v0002", 10),
    ]
