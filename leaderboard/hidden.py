"""Models the maintainers hid from the leaderboard, each with a public reason.

<data>/public/hidden.json is public on purpose: a model that disappears from a public
ranking owes its submitter and readers a reason, and the page shows it in a small note.
Hiding is a display decision: the result rows stay where they are (they are public anyway)
and reappear when the model is unhidden. Who hid a model is recorded in the private admin
log, not here. On a Hub store the file is a commit to the public results repo (never only
the Space's disk, which a restart loses).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from evaluator.clock import iso_utc, now_iso
from evaluator.storage import (
    CommitConflict,
    DataDir,
    Store,
    as_store,
    atomic_write_json,
    exclusive_lock,
    json_bytes,
    read_json,
)
from evaluator.storage.hub import HubStore
from evaluator.wording import one_line

HIDDEN_FILE: Final = "hidden.json"
MAX_REASON: Final = 300
MAX_MODEL: Final = 200
MAX_CONFLICTS: Final = 10  # commits refused for a moved branch before a hide gives up
T = TypeVar("T")


class HiddenError(ValueError):
    """A hide or unhide request that cannot be carried out; one line for the maintainer."""


@dataclass(frozen=True, slots=True)
class HiddenModel:
    model: str
    reason: str
    hidden_at: str

    def to_json(self) -> dict[str, str]:
        return {"model": self.model, "reason": self.reason, "hidden_at": self.hidden_at}


def hidden_path(data: DataDir) -> Path:
    return data.public / HIDDEN_FILE


def _invisible(char: str) -> bool:
    # Invisible formatting characters could make a published reason read differently
    # from what the maintainer typed.
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def parse_hidden(value: Any) -> dict[str, HiddenModel]:
    """Model name -> entry; entries that are not well formed are skipped."""
    entries = value.get("models") if isinstance(value, dict) else None
    out: dict[str, HiddenModel] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        model, reason = entry.get("model"), entry.get("reason")
        if isinstance(model, str) and model and isinstance(reason, str):
            out[model] = HiddenModel(model, reason, str(entry.get("hidden_at") or ""))
    return out


def read_hidden(data: DataDir) -> dict[str, HiddenModel]:
    """The hidden models; an absent file hides nothing. A damaged file raises ValueError
    (the caller decides whether a page stays up without it)."""
    path = hidden_path(data)
    try:
        return parse_hidden(read_json(path))
    except FileNotFoundError:
        return {}


def _content(entries: dict[str, HiddenModel]) -> dict[str, Any]:
    ordered = sorted(entries.values(), key=lambda e: (e.hidden_at, e.model))
    return {"models": [e.to_json() for e in ordered]}


def _update(store: Store | DataDir, change: Callable[[dict[str, HiddenModel]], T]) -> T:
    """Read, change and write hidden.json so that two maintainers never lose each other's entry.

    Locally under a file lock. On a Hub store the file lives in the public results repo: a
    commit against the commit it was read at, re-read and re-applied when the branch moved,
    so a hide survives the Space's disk. StoreUnavailable when the Hub cannot take it.
    """
    home = as_store(store)
    data = home.data
    if not isinstance(home, HubStore):
        with exclusive_lock(data.cache / "locks" / "hidden.lock"):
            entries = read_hidden(data)
            result = change(entries)
            atomic_write_json(hidden_path(data), _content(entries))
        return result
    path = hidden_path(data).relative_to(data.root).as_posix()
    role = home.repo_for(path).role
    for _attempt in range(MAX_CONFLICTS):
        with home.repo_lock(role):
            parent = home.mirror_sha(role)
            entries = read_hidden(data)
            result = change(entries)
            try:
                home.commit_files({path: json_bytes(_content(entries))}, message="hidden models", parent=parent)
                return result
            except CommitConflict:
                pass
        home.refresh_role(role)
    raise HiddenError("the results repo kept moving; try again in a moment")


def hide_model(
    store: Store | DataDir, model: str, reason: str, *, now: datetime | None = None, known: Iterable[str] | None = None
) -> HiddenModel:
    """Hide `model` from every board, with a reason everyone can read. With `known` (the
    models that have results), a name that is not among them is refused: a typo would
    otherwise hide nothing and look done."""
    name = (model or "").strip()
    text = one_line("" if reason is None else str(reason), MAX_REASON, blank=_invisible)
    if not name or len(name) > MAX_MODEL:
        raise HiddenError("name the model to hide, exactly as the leaderboard shows it")
    if known is not None and name not in set(known):
        raise HiddenError(f"no model named {name} has results; name it exactly as the leaderboard shows it")
    if not text:
        raise HiddenError("hiding a model needs a public reason")
    stamp = iso_utc(now) if now else now_iso()
    entry = HiddenModel(name, text, stamp)

    def add(entries: dict[str, HiddenModel]) -> HiddenModel:
        entries[name] = entry
        return entry

    return _update(store, add)


def unhide_model(store: Store | DataDir, model: str) -> HiddenModel:
    """Show `model` again; HiddenError when it is not hidden."""
    name = (model or "").strip()

    def remove(entries: dict[str, HiddenModel]) -> HiddenModel:
        entry = entries.pop(name, None)
        if entry is None:
            raise HiddenError(f"{name or 'that model'} is not hidden")
        return entry

    return _update(store, remove)


__all__ = ["HiddenError", "HiddenModel", "hidden_path", "hide_model", "parse_hidden", "read_hidden", "unhide_model"]
