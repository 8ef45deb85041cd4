"""Held-out set versions and rotation (issue 5; PROTOCOL.md section 3).

Layout under <data>/sets/NAME/ (private):

    draft.jsonl, draft.json   the working draft: items after pending adds and retirements,
                              and the reasons given for each retirement. Absent when the
                              draft equals the latest version.
    v0001/items.jsonl         a frozen version, never edited again (its manifest carries the
    v0001/manifest.json       content hash, so an edit is caught when the set is loaded)

Version names are zero-padded so that `resolve_set("NAME")` in evaluator.cli, which takes
the last name in sorted order, finds the newest. A version is cut (`freeze`) only when every
crisis category keeps enough support items for its intervals to mean something, and when no
category's share of the set moved by more than the stated tolerance since the previous
version, so results on consecutive versions stay comparable in what they weigh.

Retired items stop being secret once the version that drops them is cut: they are then
published, with the reason, in <data>/public/retired/NAME.jsonl for anyone to download.
Publishing waits for the cut because until then the live version still ranks models on them.

Nothing here prints or logs item text, except `sets show --reveal` on a machine that says it
is a maintainer's (CRISIS_MAINTAINER_MACHINE=1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from evaluator.audit import cli_user, log_admin_action, ngrams, words
from evaluator.items import Item, ItemSet, ItemSetError, Manifest, content_hash, iter_jsonl_items, load_items, load_set
from evaluator.protocol.taxonomy import CATEGORIES, CRISIS_CATEGORIES, PROTOCOL_VERSION, SIGNALS, TRACKS
from evaluator.storage import DataDir, atomic_write_json, atomic_write_text, exclusive_lock, read_json
from evaluator.wording import counted

DEFAULT_MIN_PER_CATEGORY: Final = 30
DEFAULT_TOLERANCE: Final = 0.05
DEFAULT_MIN_MODELS: Final = 5
NEAR_DUPLICATE: Final = 0.8  # word 5-gram Jaccard similarity
SHINGLE: Final = 5
DEFAULT_REASON: Final = "rotation"
MAX_REASON_CHARS: Final = 300
REVEAL_ENV: Final = "CRISIS_MAINTAINER_MACHINE"
MIN_MODELS_ENV: Final = "CRISIS_RANK_MIN_MODELS"
DRAFT: Final = "draft"

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION: Final = re.compile(r"^v(\d{4,})$")
_RESERVED: Final = frozenset({"public-sample"})


class RotationError(ItemSetError):
    """A set operation refused (what is missing, what is wrong); one actionable line."""


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def _listed(ids: Iterable[str], limit: int = 8) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# ---------------------------------------------------------------- where things are


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name in _RESERVED:
        raise RotationError(
            f"{name!r} is not a usable set name (letters, digits, '.', '_', '-'; not {', '.join(sorted(_RESERVED))})"
        )
    return name


def set_root(data: DataDir, name: str) -> Path:
    return data.sets / check_name(name)


def retired_path(data: DataDir, name: str) -> Path:
    """The public retired set of NAME: items no longer held out, free to download."""
    return data.public / "retired" / f"{check_name(name)}.jsonl"


def version_number(version: str) -> int:
    match = _VERSION.fullmatch(version)
    if not match:
        raise RotationError(f"{version!r} is not a version name (expected v0001, v0002, ...)")
    return int(match.group(1))


def version_name(number: int) -> str:
    return f"v{number:04d}"


def _version_sort_key(version: str) -> tuple[int, int, str]:
    match = _VERSION.fullmatch(version)
    return (0, int(match.group(1)), version) if match else (1, 0, version)


def list_versions(data: DataDir, name: str) -> list[str]:
    """Frozen versions of NAME, oldest first."""
    root = set_root(data, name)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if _VERSION.fullmatch(p.name) and (p / "items.jsonl").is_file()]
    return sorted(found, key=version_number)


def latest_version(data: DataDir, name: str) -> str | None:
    versions = list_versions(data, name)
    return versions[-1] if versions else None


def load_version(data: DataDir, name: str, version: str) -> ItemSet:
    path = set_root(data, name) / version / "items.jsonl"
    if not path.is_file():
        raise RotationError(f"set {name} has no version {version} (versions: {_listed(list_versions(data, name))})")
    return load_set(path, name=name, version=version)


def version_manifest(data: DataDir, name: str, version: str) -> dict[str, Any]:
    path = set_root(data, name) / version / "manifest.json"
    try:
        value = read_json(path)
    except FileNotFoundError:
        raise RotationError(f"set {name} version {version} has no manifest.json") from None
    except ValueError:
        raise RotationError(f"set {name} version {version}: manifest.json is not valid JSON") from None
    if not isinstance(value, dict):
        raise RotationError(f"set {name} version {version}: manifest.json is not an object")
    return value


def set_names(data: DataDir) -> list[str]:
    if not data.sets.is_dir():
        return []
    return sorted(
        p.name
        for p in data.sets.iterdir()
        if p.is_dir() and _NAME.fullmatch(p.name) and p.name not in _RESERVED and _has_content(p)
    )


def _has_content(root: Path) -> bool:
    return (root / "draft.jsonl").is_file() or any(
        _VERSION.fullmatch(p.name) and (p / "items.jsonl").is_file() for p in root.iterdir()
    )


@contextlib.contextmanager
def _locked(data: DataDir, name: str) -> Iterator[None]:
    # One writer per set at a time: two maintainers (or the CLI and the Space) editing the
    # same draft would otherwise lose each other's changes.
    with exclusive_lock(set_root(data, name) / ".lock"):
        yield


# ---------------------------------------------------------------- the working draft


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
    return list(iter_jsonl_items(text.splitlines(), path.name)) if text.strip() else []


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


def _save_draft(data: DataDir, draft: Draft) -> None:
    root = set_root(data, draft.name)
    atomic_write_text(root / "draft.jsonl", _jsonl(draft.items))
    atomic_write_json(root / "draft.json", {"base": draft.base, "reasons": draft.reasons, "updated_at": _now()})


def _jsonl(items: Iterable[Item]) -> str:
    return "".join(json.dumps(i.to_json(), ensure_ascii=False) + "\n" for i in items)


def _discard_draft(data: DataDir, name: str) -> None:
    root = set_root(data, name)
    for file_name in ("draft.jsonl", "draft.json"):
        with contextlib.suppress(FileNotFoundError):
            (root / file_name).unlink()


def _require_set(data: DataDir, name: str) -> None:
    if not (set_root(data, name) / "draft.jsonl").is_file() and not list_versions(data, name):
        known = set_names(data)
        hint = f" (sets: {_listed(known)})" if known else ""
        raise RotationError(
            f"no set named {name} under {data.sets}{hint}; create it with `sets add {name} --from FILE`"
        )


def _retired_items(data: DataDir, name: str, current: set[str]) -> dict[str, Item]:
    """Items of earlier versions that the draft no longer holds."""
    out: dict[str, Item] = {}
    for version in list_versions(data, name):
        for item in load_version(data, name, version).items:
            if item.id not in current:
                out[item.id] = item
    return out


# ---------------------------------------------------------------- duplicates


def item_text(item: Item) -> str:
    return " ".join(turn.content for turn in item.turns)


def _shingles(tokens: Sequence[str]) -> frozenset[str]:
    size = min(SHINGLE, len(tokens))
    return frozenset(" ".join(g) for g in ngrams(tokens, size)) if size else frozenset()


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    new_id: str
    existing_id: str
    similarity: float  # 1.0 for an exact (normalised) duplicate
    existing_status: str  # "in the set", "retired", "earlier in this file"

    @property
    def exact(self) -> bool:
        return self.similarity >= 1.0


class _DuplicateIndex:
    def __init__(self) -> None:
        self.exact: dict[str, tuple[str, str]] = {}
        self.shingles: list[tuple[str, str, frozenset[str]]] = []
        self.postings: dict[str, list[int]] = defaultdict(list)

    def add(self, item: Item, status: str) -> None:
        tokens = words(item_text(item))
        if not tokens:  # nothing but emoji or punctuation: no text to compare
            return
        self.exact.setdefault(" ".join(tokens), (item.id, status))
        grams = _shingles(tokens)
        position = len(self.shingles)
        self.shingles.append((item.id, status, grams))
        for gram in grams:
            self.postings[gram].append(position)

    def find(self, item: Item, threshold: float) -> DuplicateMatch | None:
        """The closest earlier item at or above `threshold`, exact duplicates first."""
        tokens = words(item_text(item))
        if not tokens:
            return None
        hit = self.exact.get(" ".join(tokens))
        if hit is not None:
            return DuplicateMatch(item.id, hit[0], 1.0, hit[1])
        grams = _shingles(tokens)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self.postings.get(gram, ()))
        best: DuplicateMatch | None = None
        for position, common in shared.items():
            other_id, status, other = self.shingles[position]
            similarity = common / len(grams | other)
            if similarity >= threshold and (best is None or similarity > best.similarity):
                best = DuplicateMatch(item.id, other_id, round(similarity, 3), status)
        return best


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
    new_items = load_items(Path(source))
    with _locked(data, name):
        draft = load_draft(data, name)
        current = draft.ids
        clash = [i.id for i in new_items if i.id in current]
        if clash:
            raise RotationError(f"{len(clash)} ids already in set {name}: {_listed(clash)}; give new items new ids")
        retired = _retired_items(data, name, current)
        reused = [i.id for i in new_items if i.id in retired]
        if reused:
            raise RotationError(
                f"{len(reused)} ids were retired from set {name}: {_listed(reused)}; ids are never reused"
            )

        index = _DuplicateIndex()
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
            _save_draft(data, draft)
    if added:
        log_admin_action(
            data,
            who or cli_user(),
            "sets.add",
            {"set": name, "added": [i.id for i in added], "skipped": [m.new_id for m in skipped]},
        )
    return AddResult(name, [i.id for i in added], skipped, near, ItemSet(name, DRAFT, tuple(draft.items)).counts())


# ---------------------------------------------------------------- retire


@dataclass(frozen=True)
class RetireResult:
    name: str
    retired: list[str]
    reason: str
    below_minimum: list[str]  # crisis categories now short of the default minimum (a warning)


def choose_for_rotation(items: Sequence[Item], category: str, count: int, seed: int) -> list[str]:
    """`count` ids of `category`, drawn reproducibly: the same seed draws the same items."""
    pool = sorted(i.id for i in items if i.category == category)
    if count < 1:
        raise RotationError("--count must be at least 1")
    if count > len(pool):
        raise RotationError(f"set has {len(pool)} {category} items; cannot retire {count}")
    return sorted(random.Random(seed).sample(pool, count))


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
    if bool(ids) == (category is not None):
        raise RotationError("give either --ids or --category with --count and --seed")
    if category is not None:
        if category not in CATEGORIES:
            raise RotationError(f"unknown category {category!r} (expected one of: {', '.join(CATEGORIES)})")
        if count is None or seed is None:
            raise RotationError("--category needs --count and --seed (the seed makes the draw reproducible)")
    text = _one_line(reason or DEFAULT_REASON) or DEFAULT_REASON
    by = who or cli_user()
    _require_set(data, name)  # before the lock, which would create the folder
    with _locked(data, name):
        draft = load_draft(data, name)
        current = draft.ids
        if ids:
            chosen = sorted(dict.fromkeys(ids))
            missing = [i for i in chosen if i not in current]
            if missing:
                gone = set(_retired_items(data, name, current))
                already = [i for i in missing if i in gone]
                unknown = [i for i in missing if i not in gone]
                parts = []
                if unknown:
                    parts.append(f"not in set {name}: {_listed(unknown)}")
                if already:
                    parts.append(f"already retired: {_listed(already)}")
                raise RotationError("; ".join(parts))
        else:
            assert category is not None and count is not None and seed is not None
            chosen = choose_for_rotation(draft.items, category, count, seed)
        at = _now()
        drop = set(chosen)
        draft.items = [i for i in draft.items if i.id not in drop]
        for item_id in chosen:
            draft.reasons[item_id] = {"reason": text, "at": at, "by": by}
        _save_draft(data, draft)
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


@dataclass(frozen=True)
class CutResult:
    name: str
    version: str
    previous: str | None
    added: list[str]
    retired: list[str]
    items: int
    published: int  # retired items newly in the public retired set
    requeue: RequeueReport | None = None


def _write_version(root: Path, version: str, items: Sequence[Item], manifest: Manifest) -> Path:
    # Built aside and renamed into place, so `resolve_set` never sees half a version. The
    # staging folder holds no items.jsonl at the top level, so it is never taken for one.
    staging = root / ".staging" / f"{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    atomic_write_text(staging / "items.jsonl", _jsonl(items))
    atomic_write_json(staging / "manifest.json", manifest.to_json())
    final = root / version
    if final.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise RotationError(f"version {version} already exists")
    os.rename(staging, final)
    with contextlib.suppress(OSError):
        (root / ".staging").rmdir()
    return final


def _publish_retired(
    data: DataDir, name: str, items: Sequence[Item], reasons: Mapping[str, Mapping[str, str]], last: str, cut: str
) -> int:
    path = retired_path(data, name)
    records: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                obj = json.loads(line)
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
            "retired_at": why.get("at") or _now(),
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
        created_at=_now(),
        extra={"description": f"Items retired from the held-out set {name}; no longer used for ranking."},
    )
    atomic_write_json(path.with_name(f"{name}.manifest.json"), manifest.to_json())
    return new


def cut_version(
    data: DataDir,
    name: str,
    *,
    min_per_category: int = DEFAULT_MIN_PER_CATEGORY,
    tolerance: float | None = DEFAULT_TOLERANCE,
    who: str | None = None,
    requeue: bool = True,
    enqueue: Enqueue | None = None,
) -> CutResult:
    """Freeze NAME's draft as the next version; refuse (RotationError) with what is missing.

    On success: the version folder with its manifest and changelog, retired items published,
    the draft cleared, the action logged, and (with `requeue`) every model finished on the
    previous version queued again at maintainer priority.
    """
    check_name(name)
    if min_per_category < 0:
        raise RotationError("--min-per-category must be 0 or more")
    if tolerance is not None and not 0 <= tolerance <= 1:
        raise RotationError("--tolerance must be a fraction between 0 and 1 (e.g. 0.05 for 5 points)")
    by = who or cli_user()
    _require_set(data, name)
    with _locked(data, name):
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
            raise RotationError(f"items changed under an existing id: {_listed(changed)}; retire and add with new ids")
        created = _now()
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
                    "retired": [_changelog_entry(i, draft.reasons.get(i)) for i in retired],
                },
                "counts": {key: dict(sorted(value.items())) for key, value in counts.items()},
                "rules": {"min_per_category": min_per_category, "tolerance": tolerance},
            },
        )
        _write_version(set_root(data, name), version, draft.items, manifest)
        published = 0
        if before is not None and retired:
            gone = [i for i in before.items if i.id in set(retired)]
            published = _publish_retired(data, name, gone, draft.reasons, previous or "", version)
        _discard_draft(data, name)
    log_admin_action(
        data,
        by,
        "sets.freeze",
        {"set": name, "version": version, "previous": previous, "added": added, "retired": retired},
    )
    report = None
    if requeue and previous is not None:
        try:
            report = requeue_after_cut(data, name, previous, version, enqueue=enqueue)
        except Exception as exc:  # the version is cut either way; say what was not queued
            report = RequeueReport(failed=[("every model", _one_line(str(exc) or type(exc).__name__))])
    return CutResult(name, version, previous, added, retired, len(draft.items), published, report)


def _changelog_entry(item_id: str, why: Mapping[str, str] | None) -> dict[str, str]:
    entry = {"id": item_id, "reason": (why or {}).get("reason") or DEFAULT_REASON}
    if why and why.get("at"):
        entry["at"] = why["at"]
    return entry


# ---------------------------------------------------------------- diff


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


def _items_at(data: DataDir, name: str, version: str) -> ItemSet:
    if version == DRAFT:
        _require_set(data, name)
        draft = load_draft(data, name)
        return ItemSet(name, DRAFT, tuple(draft.items))
    return load_version(data, name, version)


def _reasons_between(data: DataDir, name: str, old: str, new: str) -> dict[str, str]:
    reasons: dict[str, str] = {}
    versions = list_versions(data, name)
    lo = version_number(old) if _VERSION.fullmatch(old) else 0
    hi = version_number(new) if _VERSION.fullmatch(new) else 10**9
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
    a, b = _items_at(data, name, old), _items_at(data, name, new)
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


# ---------------------------------------------------------------- re-evaluation after a cut


@dataclass(frozen=True)
class Reevaluation:
    """A model finished on the previous version, to be evaluated on the new one."""

    request_id: str  # the finished request on the previous version
    model: str
    model_type: str
    spec: str
    submitter: str
    set_name: str
    set_version: str  # the new version
    revision: str | None = None
    sha: str | None = None
    base_url: str | None = None


# Queues one re-evaluation at `priority`; returns the new request id, or None when the model
# is already queued or evaluated on the new version.
Enqueue = Callable[[Reevaluation, int], "str | None"]


@dataclass
class RequeueReport:
    queued: list[tuple[str, str]] = field(default_factory=list)  # (model, new request id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (model, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (model, error)


def finished_on(data: DataDir, name: str, version: str, new_version: str) -> list[Reevaluation]:
    """One re-evaluation on `new_version` per model finished on NAME@version, oldest submission first."""
    from submissions.records import Status
    from submissions.store import LocalRequestStore

    latest: dict[str, Any] = {}
    for record in LocalRequestStore(data).all():
        if record.status != Status.FINISHED or record.set_name != name or record.set_version != version:
            continue
        kept = latest.get(record.identity)
        if kept is None or (record.finished_at or record.updated_at) > (kept.finished_at or kept.updated_at):
            latest[record.identity] = record
    ordered = sorted(latest.values(), key=lambda r: (r.submitted_at, r.id))
    return [
        Reevaluation(
            request_id=r.id,
            model=r.model,
            model_type=r.model_type,
            spec=r.spec,
            submitter=r.submitter,
            set_name=name,
            set_version=new_version,
            revision=r.revision,
            sha=r.sha,
            base_url=r.base_url,
        )
        for r in ordered
    ]


def submissions_enqueue(data: DataDir) -> Enqueue:
    """The queue of `submissions`, as an Enqueue.

    Baselines and API models go through `submissions.enqueue` (as a maintainer). Open-weight
    models have no maintainer enqueue there (`submit` re-validates against the Hub, which a
    re-evaluation of an already pinned commit does not need), so their finished record is
    copied into a fresh PENDING one through the store, under the same intake lock and
    duplicate check as `submissions.intake` uses.
    """
    from submissions.errors import SubmissionRejected
    from submissions.intake import enqueue as submissions_enqueue_fn
    from submissions.queue import Queue
    from submissions.records import Status, new_request_id
    from submissions.target import SetRef
    from submissions.validation import duplicate_reason

    queue = Queue.local(data)

    def enqueue(job: Reevaluation, priority: int) -> str | None:
        target = SetRef(job.set_name, job.set_version)
        note = f"re-evaluation on {target} after the set was rotated"
        if job.model_type in ("baseline", "api"):
            try:
                record = submissions_enqueue_fn(
                    queue,
                    spec=job.spec,
                    submitter=job.submitter,
                    target=target,
                    maintainer=True,
                    base_url=job.base_url,
                    priority=priority,
                )
            except SubmissionRejected as exc:
                if exc.check == "duplicate":
                    return None
                raise
            return record.id
        old = queue.store.get(job.request_id)
        now = queue.clock()
        fresh = old.model_copy(
            update={
                "id": new_request_id(now),
                "priority": priority,
                "set_name": target.name,
                "set_version": target.version,
                "reason": None,
                "error_class": None,
                "submitted_at": now,
                "started_at": None,
                "finished_at": None,
                "attempts": 0,
                "worker": None,
                "lease_expires_at": None,
                "run_id": None,
                "history": (),
            }
        ).moved(Status.PENDING, now, note=note)
        with queue.store.intake_lock():
            if duplicate_reason(queue.store.all(), fresh.identity, target, shown=job.model):
                return None
            queue.store.create(fresh)
        return fresh.id

    return enqueue


def requeue_after_cut(
    data: DataDir,
    name: str,
    previous: str,
    version: str,
    *,
    enqueue: Enqueue | None = None,
    priority: int | None = None,
) -> RequeueReport:
    """Queue every model finished on NAME@previous for NAME@version, at maintainer priority."""
    if priority is None:
        from submissions.intake import MAINTAINER_PRIORITY

        priority = MAINTAINER_PRIORITY
    jobs = finished_on(data, name, previous, version)
    report = RequeueReport()
    if not jobs:
        return report
    run = enqueue or submissions_enqueue(data)
    for job in jobs:
        try:
            new_id = run(job, priority)
        except Exception as exc:  # one model's refusal must not stop the others being queued
            report.failed.append((job.model, _one_line(str(exc) or type(exc).__name__)))
            continue
        if new_id is None:
            report.skipped.append((job.model, f"already queued or evaluated on {name}@{version}"))
        else:
            report.queued.append((job.model, new_id))
    return report


# ---------------------------------------------------------------- which version the board ranks


@dataclass(frozen=True)
class RankedVersion:
    """The version the leaderboard should rank on, and why (for a visible label)."""

    set_name: str
    version: str
    models: int
    latest: str
    latest_models: int
    min_models: int

    @property
    def fallback(self) -> bool:
        """True while the newest version has too few models and an older one is shown."""
        return self.version != self.latest

    @property
    def label(self) -> str:
        shown = f"Ranking on {self.set_name} {self.version} ({self.models} models)."
        if not self.fallback:
            return shown
        return (
            f"{shown} The newest version, {self.latest}, has {self.latest_models} of the {self.min_models} "
            "models needed; its ranking replaces this one once enough models are evaluated on it."
        )


def default_min_models() -> int:
    raw = os.environ.get(MIN_MODELS_ENV)
    try:
        return max(1, int(raw)) if raw else DEFAULT_MIN_MODELS
    except ValueError:
        return DEFAULT_MIN_MODELS


def choose_ranked_version(
    set_name: str, models_per_version: Mapping[str, int], min_models: int, versions: Sequence[str] = ()
) -> RankedVersion | None:
    """The newest version with at least `min_models` models; else the one with the most.

    `versions` orders the known versions oldest first (those with no models yet included);
    versions only seen in results are placed by their names.
    """
    order = list(dict.fromkeys([*versions, *sorted(models_per_version, key=_version_sort_key)]))
    order.sort(key=_version_sort_key)
    if not order:
        return None
    latest = order[-1]
    counts = {v: int(models_per_version.get(v, 0)) for v in order}
    enough = [v for v in order if counts[v] >= min_models]
    if enough:
        chosen = enough[-1]
    else:
        populated = [v for v in order if counts[v] > 0]
        if not populated:
            return None
        chosen = max(reversed(populated), key=lambda v: counts[v])
    return RankedVersion(set_name, chosen, counts[chosen], latest, counts[latest], min_models)


def models_per_version(data: DataDir, set_name: str) -> dict[str, int]:
    """Distinct (model, revision) with an `overall` result row, per version of `set_name`."""
    import pyarrow.parquet as pq

    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    if not data.results.is_dir():
        return {}
    wanted = ["model", "revision", "set_name", "set_version", "category"]
    for path in sorted(data.results.rglob("*.parquet")):
        try:
            names = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in wanted if c in names])
        except Exception:  # a corrupt result file is the board's to report, not a reason to fail here
            continue
        rows = table.to_pylist()
        for row in rows:
            if row.get("set_name") == set_name and row.get("category", "overall") == "overall":
                seen[str(row.get("set_version"))].add((str(row.get("model")), str(row.get("revision"))))
    return {version: len(models) for version, models in seen.items()}


def current_ranked_version(data: DataDir, set_name: str, min_models: int | None = None) -> RankedVersion | None:
    """Which version of `set_name` the leaderboard ranks on now (None with no results at all).

    The previous version stays on the board until the newest one has `min_models` models
    (default $CRISIS_RANK_MIN_MODELS, else 5); `RankedVersion.label` says so.
    """
    needed = default_min_models() if min_models is None else min_models
    try:
        versions = list_versions(data, set_name)
    except RotationError:
        versions = []
    return choose_ranked_version(set_name, models_per_version(data, set_name), needed, versions)


# ---------------------------------------------------------------- CLI


def _counts_table(counts: Mapping[str, Counter[str]], support: Counter[str], adversarial: Counter[str]) -> str:
    lines = [("category", "items", "support", "adversarial")]
    for category in CATEGORIES:
        lines.append((category, str(counts["category"][category]), str(support[category]), str(adversarial[category])))
    widths = [max(len(row[i]) for row in lines) for i in range(4)]
    out = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)) for row in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    shown = (*SIGNALS, "unknown") if counts["signal"]["unknown"] else SIGNALS  # imported data without signals
    out.append("signal: " + ", ".join(f"{s} {counts['signal'][s]}" for s in shown))
    out.append("track: " + ", ".join(f"{t} {counts['track'][t]}" for t in TRACKS))
    return "\n".join(out)


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    return name, version or None


def cmd_list(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    names = set_names(data)
    if not names:
        print(f"no sets under {data.sets}")
        return 0
    for name in names:
        versions = list_versions(data, name)
        latest = versions[-1] if versions else None
        size = len(load_version(data, name, latest).items) if latest else 0
        line = f"{name}: {len(versions)} version{'' if len(versions) == 1 else 's'}"
        line += f", latest {latest} ({counted(size, 'item')})" if latest else " (none frozen yet)"
        draft = load_draft(data, name)
        if draft.saved:
            base = {i.id for i in load_version(data, name, latest).items} if latest else set()
            line += f"; draft: +{len(draft.ids - base)} added, -{len(base - draft.ids)} retired, not frozen"
        print(line)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    name, version = _split_ref(args.name)
    _require_set(data, name)
    if args.reveal and os.environ.get(REVEAL_ENV) != "1":
        raise RotationError(
            f"--reveal prints private item text; it is refused unless {REVEAL_ENV}=1 is set on a maintainer's machine"
        )
    version = version or latest_version(data, name) or DRAFT
    item_set = _items_at(data, name, version)
    support = Counter(i.category for i in item_set.items if i.track == "support")
    adversarial = Counter(i.category for i in item_set.items if i.track == "adversarial")
    if version == DRAFT:
        items = counted(len(item_set.items), "item")
        print(f"{name} draft (private, not frozen): {items}, content hash {item_set.content_hash}")
    else:
        meta = version_manifest(data, name, version)
        print(
            f"{name} {version} ({meta.get('visibility', 'private')}): {counted(len(item_set.items), 'item')}, "
            f"content hash {item_set.content_hash}, cut {meta.get('created_at', '?')}"
        )
        log = meta.get("changelog") or {}
        if meta.get("previous"):
            print(
                f"changes since {meta['previous']}: +{len(log.get('added', []))} added, "
                f"-{len(log.get('retired', []))} retired"
            )
        draft = load_draft(data, name)
        if draft.saved and version == latest_version(data, name):
            base = {i.id for i in item_set.items}
            print(f"pending in the draft: +{len(draft.ids - base)} added, -{len(base - draft.ids)} retired")
    print()
    print(_counts_table(item_set.counts(), support, adversarial))
    if args.reveal:
        print()
        for item in item_set.items:
            print(json.dumps(item.to_json(), ensure_ascii=False))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    result = add_items(data, args.name, args.source)
    for match in result.skipped:
        print(f"skipped {match.new_id}: exact duplicate of {match.existing_id} ({match.existing_status})")
    for match in result.near:
        print(
            f"check {match.new_id}: near-duplicate of {match.existing_id} "
            f"({match.existing_status}, similarity {match.similarity:.2f})"
        )
    added = counted(len(result.added), "item")
    print(f"added {added} to the draft of {args.name}; `sets freeze {args.name}` cuts a version")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    result = retire_items(
        data,
        args.name,
        ids=args.ids,
        category=args.category,
        count=args.count,
        seed=args.seed,
        reason=args.reason,
    )
    retired = counted(len(result.retired), "item")
    print(f"retired {retired} from the draft of {args.name}: {_listed(result.retired, 20)}")
    print(
        f"they will be published in {retired_path(data, args.name)} when the next version is cut "
        f"(`sets freeze {args.name}`)"
    )
    if result.below_minimum:
        sys.stderr.write(
            f"warning: below {DEFAULT_MIN_PER_CATEGORY} support items now: {', '.join(result.below_minimum)}; "
            "add items before freezing\n"
        )
    return 0


def _fraction(text: str) -> float:
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction: {text!r} (e.g. 0.05 or 5%)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is outside 0-1")
    return value


def cmd_freeze(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    result = cut_version(
        data,
        args.name,
        min_per_category=args.min_per_category,
        tolerance=args.tolerance,
        requeue=not args.no_requeue,
    )
    since = f" since {result.previous}" if result.previous else ""
    print(
        f"cut {args.name} {result.version}: {counted(result.items, 'item')}, +{len(result.added)} added, "
        f"-{len(result.retired)} retired{since}"
    )
    if result.published:
        print(f"published {counted(result.published, 'retired item')} in {retired_path(data, args.name)}")
    report = result.requeue
    if report is not None:
        print(
            f"re-evaluation queued for {counted(len(report.queued), 'model')} finished on {result.previous}"
            + (f", {len(report.skipped)} already queued" if report.skipped else "")
        )
        for model, error in report.failed:
            sys.stderr.write(f"warning: could not queue {model}: {error}\n")
    return 0


def _print_counts_diff(diff: SetDiff) -> None:
    rows = [("category", diff.old, diff.new, "change")]
    for category in CATEGORIES:
        a, b = diff.counts_old["category"][category], diff.counts_new["category"][category]
        rows.append((category, str(a), str(b), f"{b - a:+d}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def cmd_diff(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    diff = diff_versions(data, args.name, args.old, args.new)
    print(f"{args.name} {diff.old} -> {diff.new}: +{len(diff.added)} added, -{len(diff.retired)} retired")
    if diff.added:
        print("added: " + ", ".join(diff.added))
    for entry in diff.retired:
        print(f"retired: {entry['id']}" + (f" ({entry['reason']})" if entry["reason"] else ""))
    print()
    _print_counts_diff(diff)
    return 0


def register_cli(verbs: Any) -> None:
    from evaluator.cli import _add_data

    sets = verbs.add_parser(
        "sets",
        help="held-out set versions and rotation",
        description="Maintain private item sets under <data>/sets: add items to a draft, retire items, freeze the "
        "draft as a new version, compare versions. Item text is never printed, except `show --reveal` with "
        f"{REVEAL_ENV}=1.",
    )
    actions = sets.add_subparsers(dest="sets_verb", required=True, parser_class=type(sets))

    p = actions.add_parser("list", help="every set, its versions and pending draft changes")
    _add_data(p)
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("show", help="counts per category, signal and track (no item text)")
    p.add_argument("name", help="NAME (latest version), NAME@VERSION, or NAME@draft")
    p.add_argument(
        "--reveal",
        action="store_true",
        help=f"also print the items; only where {REVEAL_ENV}=1 (a maintainer's machine)",
    )
    _add_data(p)
    p.set_defaults(func=cmd_show)

    p = actions.add_parser("add", help="add validated items to the draft, reporting duplicates by id")
    p.add_argument("name")
    p.add_argument("--from", dest="source", required=True, metavar="FILE", help="JSONL items (PROTOCOL section 3)")
    _add_data(p)
    p.set_defaults(func=cmd_add)

    p = actions.add_parser("retire", help="take items out of the draft, with a reason")
    p.add_argument("name")
    p.add_argument("--ids", nargs="+", metavar="ID", help="the items to retire (e.g. leaked ones)")
    p.add_argument("--category", choices=CATEGORIES, help="retire a random draw from this category (rotation)")
    p.add_argument("--count", type=int, help="how many to draw")
    p.add_argument("--seed", type=int, help="seed of the draw, so it can be reproduced")
    p.add_argument("--reason", help=f"why, published with the items (default: {DEFAULT_REASON})")
    _add_data(p)
    p.set_defaults(func=cmd_retire)

    p = actions.add_parser("freeze", help="cut the draft as a new version and queue re-evaluations")
    p.add_argument("name")
    p.add_argument(
        "--min-per-category",
        type=int,
        default=DEFAULT_MIN_PER_CATEGORY,
        help=f"support items each crisis category needs (default {DEFAULT_MIN_PER_CATEGORY})",
    )
    p.add_argument(
        "--tolerance",
        type=_fraction,
        default=DEFAULT_TOLERANCE,
        help="largest change of a category's share of the set since the previous version "
        f"(default {DEFAULT_TOLERANCE}, i.e. 5 points)",
    )
    p.add_argument("--no-requeue", action="store_true", help="do not queue re-evaluation of finished models")
    _add_data(p)
    p.set_defaults(func=cmd_freeze)

    p = actions.add_parser("diff", help="ids added and retired between two versions (or a version and the draft)")
    p.add_argument("name")
    p.add_argument("old", metavar="V1")
    p.add_argument("new", metavar="V2", help="a version, or 'draft'")
    _add_data(p)
    p.set_defaults(func=cmd_diff)
