"""What changed between two versions of a set, or a version and the draft: ids added, retired
(with the reasons the changelogs give) and changed, and the counts per category. Ids and counts
only, never a record's text, so a diff of a private set is safe to print.

One comparison for every kind of set (`diff_records`): item sets here (`diff_versions`),
persona sets in evaluator.conversation.persona_sets, with their own counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from evaluator.catalog import ITEMS_FILE, is_version, list_versions, version_manifest, version_number
from evaluator.sets.drafts import DRAFT, items_at, load_draft
from evaluator.storage import DataDir


@dataclass(frozen=True)
class SetDiff:
    name: str
    old: str
    new: str
    added: list[str]
    retired: list[dict[str, str]]  # id and reason (from the changelogs in between, where known)
    counts_old: dict[str, Counter[str]]
    counts_new: dict[str, Counter[str]]
    old_hash: str
    new_hash: str
    changed: list[str] = field(default_factory=list)  # ids in both with different content


def reasons_between(data: DataDir, name: str, old: str, new: str, records_file: str = ITEMS_FILE) -> dict[str, str]:
    """Retirement reasons of the versions after `old` up to `new`, from their changelogs."""
    reasons: dict[str, str] = {}
    versions = list_versions(data, name, records_file)
    lo = version_number(old) if is_version(old) else 0
    hi = version_number(new) if is_version(new) else 10**9
    for version in versions:
        if lo < version_number(version) <= hi:
            for entry in version_manifest(data, name, version).get("changelog", {}).get("retired", []):
                if isinstance(entry, dict) and "id" in entry:
                    reasons[str(entry["id"])] = str(entry.get("reason", ""))
    return reasons


@dataclass(frozen=True)
class Side:
    """One side of a diff: a version's record hashes by id, its counts and its content hash."""

    version: str
    hashes: Mapping[str, str]
    counts: dict[str, Counter[str]]
    content_hash: str


def diff_records(name: str, a: Side, b: Side, reasons: Mapping[str, str]) -> SetDiff:
    """The diff of two versions of NAME, whatever the kind of their records."""
    return SetDiff(
        name=name,
        old=a.version,
        new=b.version,
        added=sorted(b.hashes.keys() - a.hashes.keys()),
        retired=[{"id": i, "reason": reasons.get(i, "")} for i in sorted(a.hashes.keys() - b.hashes.keys())],
        counts_old=a.counts,
        counts_new=b.counts,
        old_hash=a.content_hash,
        new_hash=b.content_hash,
        changed=sorted(i for i in a.hashes.keys() & b.hashes.keys() if a.hashes[i] != b.hashes[i]),
    )


def diff_versions(data: DataDir, name: str, old: str, new: str) -> SetDiff:
    a, b = items_at(data, name, old), items_at(data, name, new)
    reasons = reasons_between(data, name, old, new)
    if new == DRAFT:
        for item_id, why in load_draft(data, name).reasons.items():
            reasons[item_id] = why.get("reason", "")
    return diff_records(
        name,
        Side(old, {i.id: i.content_hash() for i in a.items}, a.counts(), a.content_hash),
        Side(new, {i.id: i.content_hash() for i in b.items}, b.counts(), b.content_hash),
        reasons,
    )


__all__ = ["SetDiff", "Side", "diff_records", "diff_versions", "reasons_between"]
