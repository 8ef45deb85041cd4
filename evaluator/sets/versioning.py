"""Versions of a set: retiring items from the draft and cutting (freezing) the draft as the
next version (PROTOCOL.md section 3).

A version is cut only when every crisis category keeps enough support items for its intervals
to mean something, and when no category's share of the set moved by more than the stated
tolerance since the previous version, so results on consecutive versions stay comparable in
what they weigh. A cut version is never edited again: its manifest carries the content hash,
so an edit is caught when the set is loaded.

Cutting does not re-queue the models finished on the previous version: that is the queue's
business, `submissions.requeue.cut_and_requeue`.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from evaluator.audit import cli_user, log_admin_action
from evaluator.catalog import (
    ITEMS_FILE,
    RotationError,
    check_name,
    latest_version,
    listed,
    load_version,
    set_root,
    version_name,
    version_number,
)
from evaluator.clock import now_iso
from evaluator.items import Item, ItemSet, Manifest, content_hash
from evaluator.protocol.taxonomy import CATEGORIES, CRISIS_CATEGORIES, PROTOCOL_VERSION
from evaluator.sets.drafts import (
    DEFAULT_REASON,
    MAX_REASON_CHARS,
    discard_draft,
    jsonl,
    load_draft,
    locked,
    require_set,
    retired_items,
    save_draft,
)
from evaluator.sets.retired import publish_retired
from evaluator.storage import DataDir, Store, atomic_write_json, atomic_write_text
from evaluator.wording import one_line

DEFAULT_MIN_PER_CATEGORY: Final = 30
DEFAULT_TOLERANCE: Final = 0.05


# ---------------------------------------------------------------- retire


@dataclass(frozen=True)
class RetireResult:
    name: str
    retired: list[str]
    reason: str
    below_minimum: list[str]  # crisis categories now short of the default minimum (a warning)


class Categorised(Protocol):
    """A record of any kind of set that rotation can draw from: an item or a persona."""

    @property
    def id(self) -> str: ...

    @property
    def category(self) -> str: ...


def choose_for_rotation(items: Sequence[Categorised], category: str, count: int, seed: int) -> list[str]:
    """`count` ids of `category`, drawn reproducibly: the same seed draws the same records."""
    pool = sorted(i.id for i in items if i.category == category)
    if count < 1:
        raise RotationError("--count must be at least 1")
    if count > len(pool):
        raise RotationError(f"set has {len(pool)} {category} items; cannot retire {count}")
    return sorted(random.Random(seed).sample(pool, count))


def reason_text(reason: str | None) -> str:
    """A retirement reason as it is stored and published: one bounded line."""
    return one_line(reason or DEFAULT_REASON, MAX_REASON_CHARS) or DEFAULT_REASON


def check_retire_request(ids: Sequence[str] | None, category: str | None, count: int | None, seed: int | None) -> None:
    """Either ids, or a category with a count and a seed; RotationError otherwise."""
    if bool(ids) == (category is not None):
        raise RotationError("give either --ids or --category with --count and --seed")
    if category is not None:
        if category not in CATEGORIES:
            raise RotationError(f"unknown category {category!r} (expected one of: {', '.join(CATEGORIES)})")
        if count is None or seed is None:
            raise RotationError("--category needs --count and --seed (the seed makes the draw reproducible)")


def pick_retirees(
    name: str,
    records: Sequence[Categorised],
    retired_before: Callable[[set[str]], Collection[str]],
    *,
    ids: Sequence[str] | None,
    category: str | None,
    count: int | None,
    seed: int | None,
) -> list[str]:
    """The ids to retire from `records` (NAME's current records, of any kind): the given ids,
    each one present, or a reproducible draw. `retired_before(current ids)` names the ids
    retired earlier, so a second retirement says so rather than "unknown"."""
    current = {r.id for r in records}
    if ids:
        chosen = sorted(dict.fromkeys(ids))
        missing = [i for i in chosen if i not in current]
        if missing:
            gone = set(retired_before(current))
            already = [i for i in missing if i in gone]
            unknown = [i for i in missing if i not in gone]
            parts = []
            if unknown:
                parts.append(f"not in set {name}: {listed(unknown)}")
            if already:
                parts.append(f"already retired: {listed(already)}")
            raise RotationError("; ".join(parts))
        return chosen
    assert category is not None and count is not None and seed is not None
    return choose_for_rotation(records, category, count, seed)


def retire_items(
    data: DataDir,
    name: str,
    *,
    ids: Sequence[str] | None = None,
    category: str | None = None,
    count: int | None = None,
    seed: int | None = None,
    reason: str | None = None,
    who: str | None = None,
) -> RetireResult:
    """Take items out of NAME's draft, with a reason; published when the next version is cut."""
    check_name(name)
    check_retire_request(ids, category, count, seed)
    text = reason_text(reason)
    by = who or cli_user()
    require_set(data, name)  # before the lock, which would create the folder
    with locked(data, name):
        draft = load_draft(data, name)
        chosen = pick_retirees(
            name,
            draft.items,
            lambda current: retired_items(data, name, current),
            ids=ids,
            category=category,
            count=count,
            seed=seed,
        )
        at = now_iso()
        drop = set(chosen)
        draft.items = [i for i in draft.items if i.id not in drop]
        for item_id in chosen:
            draft.reasons[item_id] = {"reason": text, "at": at, "by": by}
        save_draft(data, draft)
    support = Counter(i.category for i in draft.items if i.track == "support")
    short = [c for c in CRISIS_CATEGORIES if support[c] < DEFAULT_MIN_PER_CATEGORY]
    log_admin_action(data, by, "sets.retire", {"set": name, "ids": chosen, "reason": text})
    return RetireResult(name, chosen, text, short)


# ---------------------------------------------------------------- freeze


def freeze_problems(
    items: Sequence[Item],
    previous: Sequence[Item] | None,
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    tolerance: float | None = DEFAULT_TOLERANCE,
    previous_version: str | None = None,
) -> list[str]:
    """Why these items cannot be cut as a version; empty when they can.

    The minimum counts support-track items, the ones category figures are computed on. The
    balance compares each category's share of the whole set with the previous version.
    """
    problems: list[str] = []
    support = Counter(i.category for i in items if i.track == "support")
    for category in CRISIS_CATEGORIES:
        if support[category] < min_per_category:
            problems.append(f"{category} has {support[category]} items, needs {min_per_category}")
    if previous and tolerance is not None and items:
        now, before = Counter(i.category for i in items), Counter(i.category for i in previous)
        for category in CATEGORIES:
            share, old = now[category] / len(items), before[category] / len(previous)
            if abs(share - old) > tolerance + 1e-9:
                problems.append(
                    f"{category} is {share:.1%} of the set, was {old:.1%} in "
                    f"{previous_version or 'the previous version'} (tolerance ±{tolerance:.1%})"
                )
    return problems


class RequeueSummary(Protocol):
    """What was queued again after a cut (submissions.requeue.RequeueReport)."""

    queued: list[tuple[str, str]]  # (model, new request id)
    skipped: list[tuple[str, str]]  # (model, why)
    failed: list[tuple[str, str]]  # (model, error)


@dataclass(frozen=True)
class CutResult:
    name: str
    version: str
    previous: str | None
    added: list[str]
    retired: list[str]
    items: int
    published: int  # retired items newly in the public retired set
    requeue: RequeueSummary | None = None  # filled by submissions.requeue.cut_and_requeue


def _write_version(root: Path, version: str, items: Sequence[Item], manifest: Manifest) -> Path:
    return write_version(root, version, ITEMS_FILE, jsonl(items), manifest.to_json())


def write_version(root: Path, version: str, records_file: str, records: str, manifest: Mapping[str, Any]) -> Path:
    """Write a frozen version of any kind (its records file and manifest) as root/version."""
    # Built aside and renamed into place, so `resolve_set` never sees half a version. The
    # staging folder holds no records file at the top level, so it is never taken for one.
    staging = root / ".staging" / f"{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    atomic_write_text(staging / records_file, records)
    atomic_write_json(staging / "manifest.json", dict(manifest))
    final = root / version
    if final.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise RotationError(f"version {version} already exists")
    os.rename(staging, final)
    with contextlib.suppress(OSError):
        (root / ".staging").rmdir()
    return final


def cut_version(
    data: DataDir,
    name: str,
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    tolerance: float | None = DEFAULT_TOLERANCE,
    who: str | None = None,
    store: Store | None = None,
) -> CutResult:
    """Freeze NAME's draft as the next version; refuse (RotationError) with what is missing.
    `store`: the store `data` belongs to, which the admin log is committed through (None: `data`
    is a local home).

    On success: the version folder with its manifest and changelog, retired items published,
    the draft cleared and the action logged. Re-queueing the models finished on the previous
    version is `submissions.requeue.cut_and_requeue`'s.
    """
    check_name(name)
    if min_per_category < 0:
        raise RotationError("--min-per-category must be 0 or more")
    if tolerance is not None and not 0 <= tolerance <= 1:
        raise RotationError("--tolerance must be a fraction between 0 and 1 (e.g. 0.05 for 5 points)")
    by = who or cli_user()
    require_set(data, name)
    with locked(data, name):
        draft = load_draft(data, name)
        previous = latest_version(data, name)
        before = load_version(data, name, previous) if previous else None
        if before is not None and content_hash(draft.items) == before.content_hash:
            raise RotationError(f"nothing to freeze: the draft of {name} equals {previous}")
        problems = freeze_problems(
            draft.items,
            before.items if before else None,
            min_per_category=min_per_category,
            tolerance=tolerance,
            previous_version=previous,
        )
        if problems:
            raise RotationError(f"cannot freeze {name}: " + "; ".join(problems))
        version = version_name(version_number(previous) + 1 if previous else 1)
        old_ids = {i.id for i in before.items} if before else set()
        new_ids = draft.ids
        added = sorted(new_ids - old_ids)
        retired = sorted(old_ids - new_ids)
        old_hashes = {i.id: i.content_hash() for i in before.items} if before else {}
        changed = sorted(i.id for i in draft.items if i.id in old_hashes and i.content_hash() != old_hashes[i.id])
        if changed:
            raise RotationError(f"items changed under an existing id: {listed(changed)}; retire and add with new ids")
        created = now_iso()
        current = ItemSet(name, version, tuple(draft.items))
        counts = current.counts()
        manifest = Manifest(
            name=name,
            version=version,
            ids=tuple(sorted(new_ids)),
            content_hash=current.content_hash,
            visibility="private",
            created_at=created,
            extra={
                "previous": previous,
                "protocol_version": PROTOCOL_VERSION,
                "created_by": by,
                "items": len(draft.items),
                "changelog": {
                    "added": added,
                    "retired": [changelog_entry(i, draft.reasons.get(i)) for i in retired],
                },
                "counts": {key: dict(sorted(value.items())) for key, value in counts.items()},
                "rules": {"min_per_category": min_per_category, "tolerance": tolerance},
            },
        )
        _write_version(set_root(data, name), version, draft.items, manifest)
        published = 0
        if before is not None and retired:
            gone = [i for i in before.items if i.id in set(retired)]
            published = publish_retired(data, name, gone, draft.reasons, previous or "", version)
        discard_draft(data, name)
    log_admin_action(
        store or data,
        by,
        "sets.freeze",
        {"set": name, "version": version, "previous": previous, "added": added, "retired": retired},
    )
    return CutResult(name, version, previous, added, retired, len(draft.items), published)


def changelog_entry(item_id: str, why: Mapping[str, str] | None) -> dict[str, str]:
    """A retired id in a version's changelog: the id, the reason and when (never the text)."""
    entry = {"id": item_id, "reason": (why or {}).get("reason") or DEFAULT_REASON}
    if why and why.get("at"):
        entry["at"] = why["at"]
    return entry


__all__ = [
    "DEFAULT_MIN_PER_CATEGORY",
    "DEFAULT_TOLERANCE",
    "CutResult",
    "RequeueSummary",
    "RetireResult",
    "changelog_entry",
    "check_retire_request",
    "choose_for_rotation",
    "cut_version",
    "freeze_problems",
    "pick_retirees",
    "reason_text",
    "retire_items",
    "write_version",
]
