"""Personas and persona sets (PROTOCOL.md section 9): typed records, strict loading, manifests.

A persona is a simulated person in (or out of) crisis: who they are, how they talk, how risk
shows over the conversation, and, for the offline simulator, a script of what they say next
depending on what the model's last reply did. Loading follows items.py: all or nothing, and
an error names the file, the line and the field in one line, never a persona's text (held-out
personas are secret and errors end up in logs).

Persona sets live in the same catalog as item sets, `<data>/sets/NAME/vNNNN/`, as a kind:
the version folder holds `personas.jsonl` and a `manifest.json` with `"kind": "personas"`,
so the secrecy audit, the private repository and the version names are shared with item
sets; `sets` verbs (which look for `items.jsonl`) never mistake one kind for the other.
Freezing, retiring and comparing versions: evaluator.conversation.persona_sets.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from evaluator.catalog import PERSONAS_FILE, is_version, list_versions, set_names
from evaluator.items import (
    ItemSetError,
    RecordFields,
    Visibility,
    iter_jsonl_records,
    manifest_path_for,
    read_jsonl_text,
    read_set_manifest,
    sha256_json,
    shown_value,
)
from evaluator.protocol.taxonomy import AGE_GROUPS, CATEGORIES, NO_CRISIS
from evaluator.storage import DataDir, jsonl_lines

RISKS: Final[tuple[str, ...]] = ("none", "low", "high", "imminent")
DISCLOSURES: Final[tuple[str, ...]] = ("explicit", "indirect", "ambiguous", "late")
REACTIONS: Final[tuple[str, ...]] = ("asked_safety", "gave_resource", "refused", "dismissed", "other")
DEFAULT_MAX_TURNS: Final = 8
MAX_TURNS_LIMIT: Final = 40
MAX_TEXT_CHARS: Final = 4000
MAX_PROFILE_CHARS: Final = 8000
MAX_SCRIPT_TURNS: Final = MAX_TURNS_LIMIT
# Where a late disclosure's risk shows when the persona does not say: the third user turn.
DEFAULT_LATE_TURN: Final = 3
PERSONA_KIND: Final = "personas"
PUBLIC_PERSONAS: Final = "public-personas"
PUBLIC_PERSONAS_PATH: Final = Path(__file__).resolve().parent.parent / "sample_sets" / f"{PUBLIC_PERSONAS}.jsonl"

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class PersonaError(ItemSetError):
    """A persona file, set or reference that cannot be used; the message is one actionable line."""


@dataclass(frozen=True, slots=True)
class ScriptTurn:
    """One scripted user message: the same text whatever the model did, or one per reaction.

    `end` lists the reactions after which this message is the person's last: they say it and
    leave, and the model gets no further turn.
    """

    text: str | None = None
    by_reaction: Mapping[str, str] | None = None
    end: tuple[str, ...] = ()

    def message(self, reaction: str) -> tuple[str, bool]:
        """(the next user message, whether the person leaves after it) for what the model did."""
        if self.text is not None:
            return self.text, reaction in self.end
        assert self.by_reaction is not None
        text = self.by_reaction.get(reaction, self.by_reaction["other"])
        return text, reaction in self.end

    def to_json(self) -> str | dict[str, Any]:
        if self.text is not None and not self.end:
            return self.text
        out: dict[str, Any] = {"other": self.text} if self.text is not None else dict(self.by_reaction or {})
        if self.end:
            out["end"] = list(self.end)
        return out

    def texts(self) -> list[str]:
        return [self.text] if self.text is not None else list((self.by_reaction or {}).values())


@dataclass(frozen=True, slots=True)
class Persona:
    id: str
    category: str
    risk: str
    disclosure: str
    opening: str
    profile: str
    max_turns: int = DEFAULT_MAX_TURNS
    locale: str | None = None
    age_group: str | None = None
    script: tuple[ScriptTurn, ...] = ()
    risk_visible_turn: int | None = None  # None: no risk to see (`no_crisis`)
    notes: str | None = None

    @property
    def crisis(self) -> bool:
        return self.category != NO_CRISIS

    @property
    def signal(self) -> str:
        """The item signal a turn of this conversation carries, for the per-turn checklist."""
        return "indirect" if self.disclosure == "late" else self.disclosure

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "category": self.category,
            "risk": self.risk,
            "disclosure": self.disclosure,
            "opening": self.opening,
            "profile": self.profile,
        }
        if self.max_turns != DEFAULT_MAX_TURNS:
            out["max_turns"] = self.max_turns
        for key in ("locale", "age_group", "notes"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.script:
            out["script"] = [t.to_json() for t in self.script]
        if self.risk_visible_turn is not None and self.risk_visible_turn != _default_visible(self):
            out["risk_visible_turn"] = self.risk_visible_turn
        return out

    def content_hash(self) -> str:
        return sha256_json(self.to_json())

    def texts(self) -> list[str]:
        """Every text of the persona (what the secrecy audit looks for when it is private)."""
        return [self.opening, self.profile, *(text for turn in self.script for text in turn.texts())]


def _default_visible(persona: Persona) -> int | None:
    if persona.category == NO_CRISIS or persona.risk == "none":
        return None
    return min(DEFAULT_LATE_TURN, persona.max_turns) if persona.disclosure == "late" else 1


@dataclass(frozen=True, slots=True)
class PersonaSet(Visibility):
    name: str
    version: str
    personas: tuple[Persona, ...]
    visibility: str = "private"

    @property
    def content_hash(self) -> str:
        return persona_content_hash(self.personas)

    def manifest(self, created_at: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": PERSONA_KIND,
            "name": self.name,
            "version": self.version,
            "visibility": self.visibility,
            "content_hash": self.content_hash,
            "ids": sorted(p.id for p in self.personas),
        }
        if created_at:
            out["created_at"] = created_at
        return out

    def counts(self) -> dict[str, Counter[str]]:
        """Counts per category, risk, disclosure and age group: safe to show for a private set."""
        return {
            "category": Counter(p.category for p in self.personas),
            "risk": Counter(p.risk for p in self.personas),
            "disclosure": Counter(p.disclosure for p in self.personas),
            "age_group": Counter(p.age_group or "unknown" for p in self.personas),
        }


def persona_content_hash(personas: Iterable[Persona]) -> str:
    return sha256_json([p.to_json() for p in sorted(personas, key=lambda p: p.id)])


# ---------------------------------------------------------------- validation


def persona_from_json(obj: Any, *, source: str = "<personas>", line: int | None = None) -> Persona:
    """Validate one decoded persona; raise PersonaError naming the line and the field."""
    fields = RecordFields(obj, source=source, line=line, error=PersonaError)
    obj, fail, choice = fields.obj, fields.fail, fields.choice
    persona_id = fields.record_id()

    def text(fieldname: str, value: Any, limit: int = MAX_TEXT_CHARS) -> str:
        if not isinstance(value, str) or not value.strip():
            raise fail(fieldname, "must be a non-empty string")
        if len(value) > limit:
            raise fail(fieldname, f"longer than {limit} characters")
        return value

    category = choice("category", CATEGORIES, True)
    risk = choice("risk", RISKS, True)
    disclosure = choice("disclosure", DISCLOSURES, True)
    age_group = choice("age_group", AGE_GROUPS, False)
    assert category is not None and risk is not None and disclosure is not None
    if category == NO_CRISIS and risk != "none":
        raise fail("risk", "a no_crisis persona has risk 'none'")
    if category != NO_CRISIS and risk == "none":
        raise fail("risk", f"a {category} persona needs a risk of low, high or imminent")
    opening = text("opening", obj.get("opening"))
    profile = text("profile", obj.get("profile"), MAX_PROFILE_CHARS)

    max_turns = obj.get("max_turns", DEFAULT_MAX_TURNS)
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or not 1 <= max_turns <= MAX_TURNS_LIMIT:
        raise fail("max_turns", f"must be an integer from 1 to {MAX_TURNS_LIMIT}")

    optional: dict[str, str | None] = {}
    for key in ("locale", "notes"):
        value = obj.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 200 * (5 if key == "notes" else 1)):
            raise fail(key, "must be a short string")
        optional[key] = value

    raw_script = obj.get("script", [])
    if not isinstance(raw_script, list):
        raise fail("script", "must be a list of user turns")
    if len(raw_script) > MAX_SCRIPT_TURNS:
        raise fail("script", f"has more than {MAX_SCRIPT_TURNS} turns")
    script: list[ScriptTurn] = []
    for n, entry in enumerate(raw_script):
        name = f"script[{n}]"
        if isinstance(entry, str):
            script.append(ScriptTurn(text=text(name, entry)))
            continue
        if not isinstance(entry, dict) or not entry:
            raise fail(name, "must be a string or an object mapping reactions to messages")
        unknown = sorted(set(entry) - {*REACTIONS, "end"})
        if unknown:
            raise fail(name, f"unknown key {shown_value(unknown[0])} (expected: {', '.join(REACTIONS)}, end)")
        if "other" not in entry:
            raise fail(f"{name}.other", "missing: the message for any reaction the map does not name")
        end = entry.get("end", [])
        if isinstance(end, str):
            end = [end]
        if not isinstance(end, list) or any(e not in REACTIONS for e in end):
            raise fail(f"{name}.end", f"must list reactions ({', '.join(REACTIONS)})")
        by_reaction = {k: text(f"{name}.{k}", v) for k, v in entry.items() if k != "end"}
        script.append(ScriptTurn(by_reaction=by_reaction, end=tuple(dict.fromkeys(end))))

    visible = obj.get("risk_visible_turn")
    if visible is not None:
        if isinstance(visible, bool) or not isinstance(visible, int) or not 1 <= visible <= max_turns:
            raise fail("risk_visible_turn", f"must be a user turn number from 1 to max_turns ({max_turns})")
        if category == NO_CRISIS:
            raise fail("risk_visible_turn", "a no_crisis persona has no risk to become visible")
    persona = Persona(
        id=persona_id,
        category=category,
        risk=risk,
        disclosure=disclosure,
        opening=opening,
        profile=profile,
        max_turns=max_turns,
        age_group=age_group,
        script=tuple(script),
        locale=optional["locale"],
        notes=optional["notes"],
    )
    default = _default_visible(persona)
    if disclosure == "late" and visible == 1:
        raise fail("risk_visible_turn", "a late disclosure shows its risk after the first turn")
    return _with_visible(persona, visible if visible is not None else default)


def _with_visible(persona: Persona, visible: int | None) -> Persona:
    from dataclasses import replace

    return replace(persona, risk_visible_turn=visible)


def iter_jsonl_personas(lines: Iterable[str], source: str) -> Iterator[Persona]:
    return iter_jsonl_records(lines, source, persona_from_json, PersonaError)


MAX_FILE_BYTES: Final = 64 * 1024 * 1024


def load_personas(path: str | Path) -> list[Persona]:
    """Load and validate a JSONL file of personas; all or nothing."""
    p = Path(path)
    text = read_jsonl_text(p, PersonaError, max_bytes=MAX_FILE_BYTES)
    personas = list(iter_jsonl_personas(jsonl_lines(text), p.name))
    if not personas:
        raise PersonaError(f"{p}: holds no personas")
    return personas


def load_persona_set(path: str | Path, *, name: str | None = None, version: str | None = None) -> PersonaSet:
    """A persona set from a JSONL file, with its manifest when one lies beside it.

    Without a manifest the set is private, named after the file and versioned by its content
    hash, so two different files never share a version.
    """
    p = Path(path)
    if p.is_dir():
        p = p / PERSONAS_FILE
    personas = load_personas(p)
    digest = persona_content_hash(personas)
    default_name = p.parent.parent.name if p.name == PERSONAS_FILE else p.name.removesuffix(".jsonl")
    default_name, default_version, visibility = read_set_manifest(
        manifest_path_for(p),
        digest,
        default_name,
        f"h{digest[:12]}",
        records="personas",
        kind=PERSONA_KIND,
        error=PersonaError,
    )
    return PersonaSet(name or default_name, version or default_version, tuple(personas), visibility)


# ---------------------------------------------------------------- the catalog (<data>/sets, kind personas)


def check_persona_set_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name in (PUBLIC_PERSONAS, "public-sample"):
        raise PersonaError(f"{name[:80]!r} is not a usable persona set name (letters, digits, '.', '_', '-')")
    return name


def persona_versions(data: DataDir, name: str) -> list[str]:
    """Frozen versions of persona set NAME, oldest first (the catalog's one version order)."""
    return list_versions(data, check_persona_set_name(name), PERSONAS_FILE)


def persona_set_names(data: DataDir) -> list[str]:
    return set_names(data, PERSONAS_FILE)


def load_persona_version(data: DataDir, name: str, version: str | None = None) -> PersonaSet:
    versions = persona_versions(data, name)
    if not versions:
        raise PersonaError(f"no persona set named {name} under {data.sets}")
    chosen = version or versions[-1]
    if chosen not in versions:
        raise PersonaError(f"persona set {name} has no version {chosen[:40]} (versions: {', '.join(versions[-8:])})")
    return load_persona_set(data.sets / name / chosen / PERSONAS_FILE, name=name, version=chosen)


def resolve_personas(value: str, data: DataDir) -> PersonaSet:
    """`public-personas`, a JSONL path, or NAME[@VERSION] under <data>/sets (kind personas)."""
    if value == PUBLIC_PERSONAS:
        return load_persona_set(PUBLIC_PERSONAS_PATH)
    if len(value) > 4096 or "\x00" in value:
        raise PersonaError("--personas takes public-personas, a JSONL file or NAME[@VERSION]")
    path = Path(value)
    if path.suffix == ".jsonl" or path.exists():
        return load_persona_set(path)
    name, _, version = value.partition("@")
    if not _NAME.fullmatch(name) or (version and not is_version(version)):
        raise PersonaError(f"{value[:80]}: no such persona file, and not a NAME[@vNNNN] persona set reference")
    return load_persona_version(data, name, version or None)
