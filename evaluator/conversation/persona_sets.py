"""The life cycle of a persona set (PROTOCOL section 9: versioned, frozen, rotated, private when
held out, audited for secrecy, exactly like item sets): freezing a file as the next version,
retiring personas, comparing versions.

The rules and the machinery are the item sets' (evaluator.sets), handed the persona's own text
and counts: the near-duplicate index, the reproducible retirement draw, the changelog entries,
the staged version write and the diff. What differs is only the shape of the records:

- `freeze_personas` cuts a whole file as the next version (persona sets have no draft). A new
  persona whose opening and situation (profile) exactly repeat a persona of the set, a retired
  one, an earlier one of the file, or (for a private set) a public one is refused; a near
  repeat is cut and reported by id for a maintainer to look at, as `sets add` reports items.
  An id never changes content and a retired id is never used again.
- `retire_personas` cuts the next version without the given personas (or a seeded draw of a
  category), each with its reason in the changelog.
- `diff_personas` gives ids added, retired and changed, and counts per category, risk,
  disclosure and age group.

Retired personas of a private set stay private: PROTOCOL section 9 asks for rotation and the
secrecy audit, not for publishing, so nothing here writes under <data>/public. Outputs carry
ids, counts and reasons, never persona text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from evaluator.audit import cli_user, log_admin_action
from evaluator.catalog import PERSONAS_FILE, RotationError, listed, version_name, version_number
from evaluator.clock import now_iso
from evaluator.conversation.persona import (
    PUBLIC_PERSONAS_PATH,
    Persona,
    PersonaError,
    PersonaSet,
    check_persona_set_name,
    load_persona_version,
    load_personas,
    persona_content_hash,
    persona_set_names,
    persona_versions,
)
from evaluator.items import VISIBILITIES
from evaluator.protocol.taxonomy import PROTOCOL_VERSION
from evaluator.sets import (
    NEAR_DUPLICATE,
    DuplicateIndex,
    DuplicateMatch,
    SetDiff,
    Side,
    changelog_entry,
    check_retire_request,
    diff_records,
    pick_retirees,
    reason_text,
    reasons_between,
    write_version,
)
from evaluator.storage import DataDir, exclusive_lock

IN_SET: Final = "in the set"
RETIRED: Final = "retired"
PUBLIC: Final = "public"
EARLIER: Final = "earlier in this file"


def persona_text(persona: Persona) -> str:
    """What makes a persona the same person: the opening and the situation (profile)."""
    return f"{persona.opening} {persona.profile}"


@dataclass(frozen=True)
class PersonaCut:
    """A version cut (or, with `cut` False, the latest version when the file equals it)."""

    set: PersonaSet
    previous: str | None
    added: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    near: list[DuplicateMatch] = field(default_factory=list)  # cut, but check them by hand
    cut: bool = True

    @property
    def version(self) -> str:
        return self.set.version


@dataclass
class _History:
    """Every persona NAME ever held (newest content per id) and which are still in the latest."""

    versions: list[str]
    latest: PersonaSet | None
    ever: dict[str, Persona]

    @property
    def retired_ids(self) -> set[str]:
        kept = {p.id for p in self.latest.personas} if self.latest else set()
        return set(self.ever) - kept


def _history(data: DataDir, name: str) -> _History:
    versions = persona_versions(data, name)
    ever: dict[str, Persona] = {}
    latest = None
    for version in versions:
        latest = load_persona_version(data, name, version)
        ever.update((p.id, p) for p in latest.personas)
    return _History(versions, latest, ever)


def _public_personas(data: DataDir, name: str) -> list[Persona]:
    """Personas public by design: the shipped sample and every public persona set of the catalog."""
    found = {p.id: p for p in load_personas(PUBLIC_PERSONAS_PATH)}
    for other in persona_set_names(data):
        if other == name:
            continue
        for version in persona_versions(data, other):
            persona_set = load_persona_version(data, other, version)
            if persona_set.is_public:
                found.update((f"{other}:{p.id}", p) for p in persona_set.personas)
    return list(found.values())


def _duplicates(
    data: DataDir, name: str, personas: Sequence[Persona], history: _History, visibility: str, threshold: float
) -> list[DuplicateMatch]:
    """Near repeats of the new personas (the exact ones refused, naming ids only)."""
    index = DuplicateIndex[Persona](persona_text)
    now = {p.id for p in personas}
    for persona in history.ever.values():
        index.add(persona, IN_SET if persona.id in now else RETIRED)
    if visibility == "private":  # a held-out persona that repeats a public one is not held out
        for persona in _public_personas(data, name):
            index.add(persona, PUBLIC)
    exact: list[DuplicateMatch] = []
    near: list[DuplicateMatch] = []
    for persona in personas:
        if persona.id in history.ever:
            continue  # an unchanged persona of an earlier version: not new
        match = index.find(persona, threshold)
        if match is not None:
            (exact if match.exact else near).append(match)
        index.add(persona, EARLIER)
    if exact:
        shown = [f"{m.new_id} repeats {m.existing_id} ({m.existing_status})" for m in exact]
        raise PersonaError(
            f"{len(exact)} new personas repeat the opening and situation of another: {listed(shown, 5)}; write new ones"
        )
    return near


def _cut(
    data: DataDir,
    name: str,
    choose: Callable[[_History], tuple[Sequence[Persona], str]],
    *,
    why: Mapping[str, str],
    threshold: float,
    who: str,
    action: str,
) -> PersonaCut:
    """Cut what `choose` makes of NAME's history (the personas and their visibility) as the next
    version, under the set's lock, so two maintainers never cut from the same latest version."""
    check_persona_set_name(name)
    root = data.sets / name
    if any((p / "items.jsonl").is_file() for p in root.glob("v*")) or (root / "draft.jsonl").is_file():
        raise PersonaError(f"{name} is an item set; give the persona set another name")
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root / ".lock"):
        history = _history(data, name)
        personas, visibility = choose(history)
        if history.latest is not None and history.latest.visibility != visibility:
            # One visibility per set: a private persona kept into a public version would stay in
            # the private versions too, and the secrecy audit would refuse its transcripts.
            flag = " (pass --public)" if history.latest.is_public else ""
            raise PersonaError(
                f"{name} is {history.latest.visibility}{flag}; a persona set keeps its visibility, "
                "so freeze the others under another name"
            )
        changed = [p.id for p in personas if p.id in history.ever and history.ever[p.id] != p]
        if changed:
            raise PersonaError(
                f"{len(changed)} persona ids already used with other content in {name}: "
                f"{listed(changed, 5)}; give changed personas new ids"
            )
        reused = sorted({p.id for p in personas} & history.retired_ids)
        if reused:
            raise PersonaError(
                f"{len(reused)} persona ids were retired from {name}: {listed(reused, 5)}; ids are never reused"
            )
        latest = history.latest
        if latest is not None and latest.content_hash == persona_content_hash(personas):
            return PersonaCut(latest, latest.version, cut=False)
        near = _duplicates(data, name, personas, history, visibility, threshold)
        previous = history.versions[-1] if history.versions else None
        version = version_name(version_number(previous) + 1 if previous else 1)
        old_ids = {p.id for p in latest.personas} if latest else set()
        new_ids = {p.id for p in personas}
        added, retired = sorted(new_ids - old_ids), sorted(old_ids - new_ids)
        cut = PersonaSet(name, version, tuple(personas), visibility)
        manifest = cut.manifest(now_iso()) | {
            "previous": previous,
            "protocol_version": PROTOCOL_VERSION,
            "created_by": who,
            "changelog": {"added": added, "retired": [changelog_entry(i, why) for i in retired]},
            "counts": {key: dict(sorted(value.items())) for key, value in cut.counts().items()},
            "near_duplicates": [
                {"id": m.new_id, "of": m.existing_id, "status": m.existing_status, "similarity": m.similarity}
                for m in near
            ],
        }
        records = "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in personas)
        try:
            write_version(root, version, PERSONAS_FILE, records, manifest)
        except RotationError as exc:
            raise PersonaError(str(exc)) from None
    log_admin_action(
        data, who, action, {"set": name, "version": version, "previous": previous, "added": added, "retired": retired}
    )
    return PersonaCut(cut, previous, added, retired, near)


def freeze_personas(
    data: DataDir,
    name: str,
    source: str | Path,
    *,
    visibility: str = "private",
    threshold: float = NEAR_DUPLICATE,
    who: str | None = None,
) -> PersonaCut:
    """Cut persona file FILE (validated, all or nothing) as the next version of NAME.

    Personas of the latest version missing from the file are retired (reason "rotation"). A
    file equal to the latest version cuts nothing (`PersonaCut.cut` is False).
    """
    check_persona_set_name(name)
    if visibility not in VISIBILITIES:
        raise PersonaError("visibility must be public or private")
    personas = load_personas(Path(source))
    return _cut(
        data,
        name,
        lambda history: (personas, visibility),
        why={"reason": reason_text(None), "at": now_iso()},
        threshold=threshold,
        who=who or cli_user(),
        action="personas.freeze",
    )


def retire_personas(
    data: DataDir,
    name: str,
    *,
    ids: Sequence[str] | None = None,
    category: str | None = None,
    count: int | None = None,
    seed: int | None = None,
    reason: str | None = None,
    who: str | None = None,
) -> PersonaCut:
    """Cut the next version of NAME without the given personas (or a seeded draw of a category),
    each with its reason in the changelog; the set keeps its visibility."""
    check_persona_set_name(name)
    try:
        check_retire_request(ids, category, count, seed)
    except RotationError as exc:
        raise PersonaError(str(exc)) from None
    if not persona_versions(data, name):  # before the lock, which would create the folder
        raise PersonaError(f"no persona set named {name} under {data.sets}")

    def without(history: _History) -> tuple[Sequence[Persona], str]:
        latest = history.latest
        assert latest is not None
        try:
            chosen = set(
                pick_retirees(
                    name,
                    latest.personas,
                    lambda current: history.retired_ids,
                    ids=ids,
                    category=category,
                    count=count,
                    seed=seed,
                )
            )
        except RotationError as exc:
            raise PersonaError(str(exc)) from None
        kept = [p for p in latest.personas if p.id not in chosen]
        if not kept:
            raise PersonaError(f"retiring {len(chosen)} personas would leave {name} empty; freeze new ones first")
        return kept, latest.visibility

    return _cut(
        data,
        name,
        without,
        why={"reason": reason_text(reason), "at": now_iso()},
        threshold=NEAR_DUPLICATE,
        who=who or cli_user(),
        action="personas.retire",
    )


def diff_personas(data: DataDir, name: str, old: str, new: str) -> SetDiff:
    """Ids added, retired (with reasons) and changed between two versions of NAME, and counts
    per category, risk, disclosure and age group: safe to print for a private set."""
    check_persona_set_name(name)
    a, b = load_persona_version(data, name, old), load_persona_version(data, name, new)

    def side(persona_set: PersonaSet) -> Side:
        hashes = {p.id: p.content_hash() for p in persona_set.personas}
        return Side(persona_set.version, hashes, persona_set.counts(), persona_set.content_hash)

    return diff_records(name, side(a), side(b), reasons_between(data, name, old, new, PERSONAS_FILE))


__all__ = [
    "EARLIER",
    "IN_SET",
    "PUBLIC",
    "RETIRED",
    "PersonaCut",
    "diff_personas",
    "freeze_personas",
    "persona_text",
    "retire_personas",
]
