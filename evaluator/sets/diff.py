"""What changed between two versions of a set, or a version and the draft: ids added and
retired (with the reasons the changelogs give) and the counts per category."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from evaluator.catalog import is_version, list_versions, version_manifest, version_number
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


def _reasons_between(data: DataDir, name: str, old: str, new: str) -> dict[str, str]:
    reasons: dict[str, str] = {}
    versions = list_versions(data, name)
    lo = version_number(old) if is_version(old) else 0
    hi = version_number(new) if is_version(new) else 10**9
    for version in versions:
        if lo < version_number(version) <= hi:
            for entry in version_manifest(data, name, version).get("changelog", {}).get("retired", []):
                if isinstance(entry, dict) and "id" in entry:
                    reasons[str(entry["id"])] = str(entry.get("reason", ""))
    if new == DRAFT:
        for item_id, why in load_draft(data, name).reasons.items():
            reasons[item_id] = why.get("reason", "")
    return reasons


def diff_versions(data: DataDir, name: str, old: str, new: str) -> SetDiff:
    a, b = items_at(data, name, old), items_at(data, name, new)
    ids_a, ids_b = {i.id for i in a.items}, {i.id for i in b.items}
    reasons = _reasons_between(data, name, old, new)
    return SetDiff(
        name=name,
        old=old,
        new=new,
        added=sorted(ids_b - ids_a),
        retired=[{"id": i, "reason": reasons.get(i, "")} for i in sorted(ids_a - ids_b)],
        counts_old=a.counts(),
        counts_new=b.counts(),
        old_hash=a.content_hash,
        new_hash=b.content_hash,
    )


__all__ = ["SetDiff", "diff_versions"]
