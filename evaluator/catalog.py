"""The catalog of item sets: where a set and its versions live, what they are called, and the one
order of versions everyone uses (PROTOCOL.md section 3).

Layout under <data>/sets/NAME/ (private): `vNNNN/items.jsonl` with `vNNNN/manifest.json` per
frozen version (evaluator.sets cuts them), plus a working draft. A set is named on the command
line as a path, the built-in `public-sample`, or NAME[@VERSION]; `resolve_set` reads all three.

Versions are ordered naturally (`version_key`): runs of digits compare as numbers, so v10000
follows v9999 and v10 follows v9. For the zero-padded names the sets layout cuts (v0001 ...
v9999) that is the order of the names as strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from evaluator.items import ItemSet, ItemSetError, load_set
from evaluator.storage import DataDir, read_json

PUBLIC_SAMPLE: Final = Path(__file__).parent / "sample_sets" / "public-sample.jsonl"
# The records file of a version folder says its kind: item sets (PROTOCOL section 3) or persona
# sets (section 9). One name is one kind; the versions, manifests and rules are shared.
ITEMS_FILE: Final = "items.jsonl"
PERSONAS_FILE: Final = "personas.jsonl"

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION: Final = re.compile(r"^v(\d{4,})$")
_RESERVED: Final = frozenset({"public-sample"})
_DIGITS: Final = re.compile(r"(\d+)")


class RotationError(ItemSetError):
    """A set operation refused (what is missing, what is wrong); one actionable line."""


def listed(ids: Iterable[str], limit: int = 8) -> str:
    """At most `limit` ids, comma-separated, then how many more."""
    ids = list(ids)
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# ---------------------------------------------------------------- the one version order


def version_key(version: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """Natural order of version names: 'v10' after 'v9', 'v10000' after 'v9999'; dates and
    zero-padded versions sort as plain strings do. Names equal but for leading zeros ('v01',
    'v1') fall back to string order, so the order is total."""
    parts = tuple((0, int(part)) if part.isdecimal() else (1, part) for part in _DIGITS.split(version) if part)
    return parts, version


def is_version(name: str) -> bool:
    """A version folder's name as the sets layout cuts them (v0001, v0002, ...)."""
    return _VERSION.fullmatch(name) is not None


def version_number(version: str) -> int:
    match = _VERSION.fullmatch(version)
    if not match:
        raise RotationError(f"{version!r} is not a version name (expected v0001, v0002, ...)")
    return int(match.group(1))


def version_name(number: int) -> str:
    return f"v{number:04d}"


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


def list_versions(data: DataDir, name: str, records_file: str = ITEMS_FILE) -> list[str]:
    """Frozen versions of NAME, oldest first: of an item set, or of a persona set with
    `records_file=PERSONAS_FILE`."""
    root = set_root(data, name)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if is_version(p.name) and (p / records_file).is_file()]
    return sorted(found, key=version_key)


def frozen_versions(data: DataDir, name: str) -> list[str]:
    """Frozen versions of NAME whichever its kind (item set or persona set), oldest first."""
    return list_versions(data, name) or list_versions(data, name, PERSONAS_FILE)


def latest_version(data: DataDir, name: str) -> str | None:
    versions = list_versions(data, name)
    return versions[-1] if versions else None


def load_version(data: DataDir, name: str, version: str) -> ItemSet:
    path = set_root(data, name) / version / "items.jsonl"
    if not path.is_file():
        raise RotationError(f"set {name} has no version {version} (versions: {listed(list_versions(data, name))})")
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


def set_names(data: DataDir, records_file: str = ITEMS_FILE) -> list[str]:
    """Names of the item sets (or, with `records_file=PERSONAS_FILE`, the persona sets)."""
    if not data.sets.is_dir():
        return []
    return sorted(
        p.name
        for p in data.sets.iterdir()
        if p.is_dir() and _NAME.fullmatch(p.name) and p.name not in _RESERVED and _has_content(p, records_file)
    )


def _has_content(root: Path, records_file: str) -> bool:
    # Only item sets have a draft: persona sets cut whole files.
    return (records_file == ITEMS_FILE and (root / "draft.jsonl").is_file()) or any(
        is_version(p.name) and (p / records_file).is_file() for p in root.iterdir()
    )


# ---------------------------------------------------------------- a set named on the command line


def resolve_set(value: str, data: DataDir) -> ItemSet:
    """A set from a path, the built-in `public-sample`, or NAME[@VERSION] under <data>/sets.

    NAME alone is its newest version: of the folders holding an items.jsonl, the last in
    `version_key` order.
    """
    if value == "public-sample":
        return load_set(PUBLIC_SAMPLE)
    path = Path(value)
    if path.exists():
        return load_set(path)
    name, _, version = value.partition("@")
    base = data.sets / name
    if name and base.is_dir():
        versions = sorted(
            (p for p in base.iterdir() if (p / "items.jsonl").exists()), key=lambda p: version_key(p.name)
        )
        chosen = [p for p in versions if p.name == version] if version else versions[-1:]
        if chosen:
            return load_set(chosen[0] / "items.jsonl", name=name, version=chosen[0].name)
    raise ItemSetError(f"{value}: no such set file, and no set of that name under {data.sets}")


__all__ = [
    "ITEMS_FILE",
    "PERSONAS_FILE",
    "PUBLIC_SAMPLE",
    "RotationError",
    "check_name",
    "frozen_versions",
    "is_version",
    "latest_version",
    "list_versions",
    "listed",
    "load_version",
    "resolve_set",
    "retired_path",
    "set_names",
    "set_root",
    "version_key",
    "version_manifest",
    "version_name",
    "version_number",
]
