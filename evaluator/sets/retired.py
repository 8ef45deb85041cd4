"""Retired items, published: once the version that drops them is cut, items stop being secret
and go, with the reason, to <data>/public/retired/NAME.jsonl for anyone to download.

Publishing waits for the cut because until then the live version still ranks models on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from evaluator.catalog import retired_path
from evaluator.clock import now_iso
from evaluator.items import Item, Manifest, content_hash, load_items
from evaluator.sets.drafts import DEFAULT_REASON
from evaluator.storage import DataDir, atomic_write_json, atomic_write_text, iter_jsonl


def publish_retired(
    data: DataDir, name: str, items: Sequence[Item], reasons: Mapping[str, Mapping[str, str]], last: str, cut: str
) -> int:
    """Add `items` (retired from NAME@last by the cut of NAME@cut) to the public retired set;
    how many were new there."""
    path = retired_path(data, name)
    records: dict[str, dict[str, Any]] = {}
    if path.is_file():
        # Lines split at newlines only: a record's text may hold U+2028, which splitlines() cuts at.
        with open(path, encoding="utf-8") as fh:
            for _, obj in iter_jsonl(fh):
                if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    records[obj["id"]] = obj
    new = 0
    for item in items:
        if item.id in records:
            continue
        why = reasons.get(item.id, {})
        records[item.id] = item.to_json() | {
            "retired_from": name,
            "last_version": last,
            "retired_in": cut,
            "retired_reason": why.get("reason", DEFAULT_REASON),
            "retired_at": why.get("at") or now_iso(),
        }
        new += 1
    if not new:
        return 0
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records.values()))
    # A manifest beside it makes the file a loadable public set: `--set <data>/public/retired/NAME.jsonl`.
    published = load_items(path)
    manifest = Manifest(
        name=f"{name}-retired",
        version=cut,
        ids=tuple(sorted(i.id for i in published)),
        content_hash=content_hash(published),
        visibility="public",
        created_at=now_iso(),
        extra={"description": f"Items retired from the held-out set {name}; no longer used for ranking."},
    )
    atomic_write_json(path.with_name(f"{name}.manifest.json"), manifest.to_json())
    return new


__all__ = ["publish_retired"]
