"""The working draft of a set: items after pending adds and retirements, and the reasons given
for each retirement. `draft.jsonl` and `draft.json` under <data>/sets/NAME/ (private); absent
when the draft equals the latest version.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from evaluator.audit import cli_user, log_admin_action
from evaluator.catalog import (
    PERSONAS_FILE,
    RotationError,
    check_name,
    latest_version,
    list_versions,
    listed,
    load_version,
    set_names,
    set_root,
)
from evaluator.clock import now_iso
from evaluator.items import Item, ItemSet, iter_jsonl_items, load_items
from evaluator.sets.duplicates import NEAR_DUPLICATE, DuplicateIndex, DuplicateMatch, item_text
from evaluator.storage import DataDir, atomic_write_json, atomic_write_text, exclusive_lock, jsonl_lines, read_json

DRAFT: Final = "draft"
DEFAULT_REASON: Final = "rotation"
MAX_REASON_CHARS: Final = 300


@contextlib.contextmanager
def locked(data: DataDir, name: str) -> Iterator[None]:
    # One writer per set at a time: two maintainers (or the CLI and the Space) editing the
    # same draft would otherwise lose each other's changes.
    with exclusive_lock(set_root(data, name) / ".lock"):
        yield


@dataclass
class Draft:
    name: str
    base: str | None  # the version the draft started from
    items: list[Item]
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # retired id -> reason, at, by
    saved: bool = False

    @property
    def ids(self) -> set[str]:
        return {i.id for i in self.items}


def _items_from_file(path: Path) -> list[Item]:
    text = path.read_text(encoding="utf-8")
    return list(iter_jsonl_items(jsonl_lines(text), path.name)) if text.strip() else []


def load_draft(data: DataDir, name: str) -> Draft:
    """The working draft, or the latest version as a fresh draft when none is saved."""
    root = set_root(data, name)
    items_path, state_path = root / "draft.jsonl", root / "draft.json"
    if items_path.is_file():
        state = read_json(state_path) if state_path.is_file() else {}
        return Draft(
            name=name,
            base=state.get("base"),
            items=_items_from_file(items_path),
            reasons=dict(state.get("reasons") or {}),
            saved=True,
        )
    base = latest_version(data, name)
    items = list(load_version(data, name, base).items) if base else []
    return Draft(name=name, base=base, items=items)


def save_draft(data: DataDir, draft: Draft) -> None:
    root = set_root(data, draft.name)
    atomic_write_text(root / "draft.jsonl", jsonl(draft.items))
    atomic_write_json(root / "draft.json", {"base": draft.base, "reasons": draft.reasons, "updated_at": now_iso()})


def jsonl(items: Iterable[Item]) -> str:
    return "".join(json.dumps(i.to_json(), ensure_ascii=False) + "\n" for i in items)


def discard_draft(data: DataDir, name: str) -> None:
    root = set_root(data, name)
    for file_name in ("draft.jsonl", "draft.json"):
        with contextlib.suppress(FileNotFoundError):
            (root / file_name).unlink()


def refuse_persona_set(data: DataDir, name: str) -> None:
    """One name is one kind: an item draft in a persona set's folder would make it both."""
    if list_versions(data, name, PERSONAS_FILE):
        raise RotationError(f"{name} is a persona set: rotate it with `personas freeze|retire|diff`")


def require_set(data: DataDir, name: str) -> None:
    refuse_persona_set(data, name)
    if not (set_root(data, name) / "draft.jsonl").is_file() and not list_versions(data, name):
        known = set_names(data)
        hint = f" (sets: {listed(known)})" if known else ""
        raise RotationError(
            f"no set named {name} under {data.sets}{hint}; create it with `sets add {name} --from FILE`"
        )


def retired_items(data: DataDir, name: str, current: set[str]) -> dict[str, Item]:
    """Items of earlier versions that the draft no longer holds."""
    out: dict[str, Item] = {}
    for version in list_versions(data, name):
        for item in load_version(data, name, version).items:
            if item.id not in current:
                out[item.id] = item
    return out


def items_at(data: DataDir, name: str, version: str) -> ItemSet:
    """A frozen version of NAME, or its draft for version 'draft'."""
    if version == DRAFT:
        require_set(data, name)
        draft = load_draft(data, name)
        return ItemSet(name, DRAFT, tuple(draft.items))
    return load_version(data, name, version)


# ---------------------------------------------------------------- add


@dataclass(frozen=True)
class AddResult:
    name: str
    added: list[str]
    skipped: list[DuplicateMatch]  # exact duplicates, not added
    near: list[DuplicateMatch]  # near-duplicates, added: check them by hand
    counts: dict[str, Counter[str]]


def add_items(
    data: DataDir,
    name: str,
    source: str | os.PathLike[str],
    *,
    threshold: float = NEAR_DUPLICATE,
    who: str | None = None,
) -> AddResult:
    """Validate FILE and add its items to NAME's draft (creating the set if new).

    All or nothing on validation errors and on ids already used (ids are stable: an item
    never changes under its id, and a retired id is never reused). Exact duplicates of
    existing, retired or earlier items, by normalised text, are left out and reported;
    near-duplicates are added and reported for a maintainer to look at.
    """
    check_name(name)
    refuse_persona_set(data, name)
    new_items = load_items(Path(source))
    with locked(data, name):
        draft = load_draft(data, name)
        current = draft.ids
        clash = [i.id for i in new_items if i.id in current]
        if clash:
            raise RotationError(f"{len(clash)} ids already in set {name}: {listed(clash)}; give new items new ids")
        retired = retired_items(data, name, current)
        reused = [i.id for i in new_items if i.id in retired]
        if reused:
            raise RotationError(
                f"{len(reused)} ids were retired from set {name}: {listed(reused)}; ids are never reused"
            )

        index = DuplicateIndex[Item](item_text)
        for item in draft.items:
            index.add(item, "in the set")
        for item in retired.values():
            index.add(item, "retired")
        added: list[Item] = []
        skipped: list[DuplicateMatch] = []
        near: list[DuplicateMatch] = []
        for item in new_items:
            match = index.find(item, threshold)
            if match is not None and match.exact:
                skipped.append(match)
                continue
            if match is not None:
                near.append(match)
            index.add(item, "earlier in this file")
            added.append(item)
        if added:
            draft.items.extend(added)
            save_draft(data, draft)
    if added:
        log_admin_action(
            data,
            who or cli_user(),
            "sets.add",
            {"set": name, "added": [i.id for i in added], "skipped": [m.new_id for m in skipped]},
        )
    return AddResult(name, [i.id for i in added], skipped, near, ItemSet(name, DRAFT, tuple(draft.items)).counts())


__all__ = [
    "DEFAULT_REASON",
    "DRAFT",
    "MAX_REASON_CHARS",
    "AddResult",
    "Draft",
    "add_items",
    "discard_draft",
    "items_at",
    "jsonl",
    "load_draft",
    "locked",
    "refuse_persona_set",
    "require_set",
    "retired_items",
    "save_draft",
]
