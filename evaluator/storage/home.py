"""Where the data lives: `local:DIR` or `hub:ORG/PREFIX` (ARCHITECTURE.md, "one layout, two homes").

Every reader reads `store.data`, a DataDir: the directory itself locally, a mirror of the
three Hub repos on the Hub. Writers write files there as they always have and then `push`
the paths they wrote; locally that is a no-op, on the Hub it is one commit per repo. The
request store (submissions.store) and the result store (leaderboard.store) sit on this.

Choosing the store: `--store SPEC`, else `--data DIR` (shorthand for local:DIR), else
$CRISIS_STORE, else local:$CRISIS_DATA, else local:./var.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from evaluator.storage.layout import DEFAULT_DATA_DIR, DataDir

# A Hub name part: what the Hub accepts for an org and (with "-requests" added) a repo name.
_HUB_NAME: Final = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?"
_STORE_SPEC: Final = re.compile(
    rf"(?:local:(?P<dir>[^\x00-\x1f]{{1,4096}})|hub:(?P<org>{_HUB_NAME})/(?P<prefix>{_HUB_NAME}))"
)
STORE_HELP: Final = "local:DIR | hub:ORG/PREFIX (default: $CRISIS_STORE, else local:./var)"


class StoreError(RuntimeError):
    """The store cannot be used as asked; the message is one actionable line."""


class StoreUnavailable(StoreError, ConnectionError):
    """The Hub cannot be reached (or refused us) right now; readers keep the last mirror."""


class PrivatePathRefused(StoreError):
    """A private-area path was about to be committed to a public repo."""


class CommitConflict(StoreError):
    """The branch moved since the parent commit we read at (HTTP 412): re-read and retry."""


@dataclass(frozen=True)
class StoreSpec:
    kind: str  # "local" | "hub"
    path: Path | None = None
    org: str | None = None
    prefix: str | None = None

    def __str__(self) -> str:
        return f"local:{self.path}" if self.kind == "local" else f"hub:{self.org}/{self.prefix}"


def parse_store(text: str) -> StoreSpec:
    match = _STORE_SPEC.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise StoreError(f"--store {text!r}: expected local:DIR or hub:ORG/PREFIX (letters, digits, '.', '_', '-')")
    if match["dir"] is not None:
        return StoreSpec("local", path=Path(match["dir"]))
    org, prefix = match["org"], match["prefix"]
    if ".." in org or ".." in prefix or "--" in prefix:
        raise StoreError(f"--store {text!r}: '..' and '--' are not allowed in Hub names")
    return StoreSpec("hub", org=org, prefix=prefix)


class Store(Protocol):
    """What every home offers. Reads are plain file reads under `data`."""

    spec: StoreSpec
    data: DataDir

    @property
    def read_only(self) -> bool:
        """True when writes would fail (Hub unreachable or the token cannot write)."""
        ...

    @property
    def status_line(self) -> str | None:
        """One line for the page when something is degraded; None when all is well."""
        ...

    def refresh(self, *, force: bool = False) -> None:
        """Bring `data` up to date with the home (a no-op locally)."""
        ...

    def pull(self, prefix: str) -> None:
        """Fetch the files under `prefix` (a private area read on demand, e.g. runs/<id>/)."""
        ...

    def push(self, paths: Iterable[str], message: str) -> None:
        """Publish files already written under `data` (relative paths); a no-op locally."""
        ...

    def close(self) -> None: ...


class LocalStore:
    """Today's data directory: files written in place are already stored."""

    def __init__(self, root: Path) -> None:
        self.spec = StoreSpec("local", path=root)
        self.data = DataDir(root, home=self)

    read_only = False
    status_line = None

    def refresh(self, *, force: bool = False) -> None:
        return None

    def pull(self, prefix: str) -> None:
        return None

    def push(self, paths: Iterable[str], message: str) -> None:
        return None

    def close(self) -> None:
        return None


def open_store(
    spec: StoreSpec | str,
    *,
    writable: bool = True,
    env: Mapping[str, str] | None = None,
    mirrored: tuple[str, ...] | None = None,
) -> Store:
    """The store for a spec. A Hub store checks its repos first (see evaluator.storage.hub).

    `mirrored` (a Hub store's only): the areas its mirror keeps up to date, e.g. ("results/",);
    None for all it serves, () for a process that reads nothing but what it pulls (a Ray task).
    A local store is its own directory, all of it."""
    parsed = parse_store(spec) if isinstance(spec, str) else spec
    if parsed.kind == "local":
        assert parsed.path is not None
        return LocalStore(parsed.path)
    from evaluator.storage.hub import HubStore

    return HubStore.open(parsed, writable=writable, env=env, mirrored=mirrored)


def store_of(data: DataDir) -> Store:
    """The home of a DataDir (a plain directory is its own local home)."""
    return data.home if data.home is not None else LocalStore(data.root)


def resolve_spec(store: str | None, data: str | None, env: Mapping[str, str] | None = None) -> StoreSpec:
    env = os.environ if env is None else env
    if store and data:
        raise StoreError("give --store or --data, not both (--data DIR is short for --store local:DIR)")
    if store:
        return parse_store(store)
    if data:
        return StoreSpec("local", path=Path(data))
    if env.get("CRISIS_STORE"):
        return parse_store(env["CRISIS_STORE"])
    return StoreSpec("local", path=Path(env.get("CRISIS_DATA") or DEFAULT_DATA_DIR))


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """`--store` and `--data` for every CLI verb; read them back with `store_from_args`."""
    parser.add_argument("--store", help=STORE_HELP)
    parser.add_argument("--data", help=f"data directory: short for --store local:DIR (default {DEFAULT_DATA_DIR})")


def store_from_args(args: argparse.Namespace, *, writable: bool = True) -> Store:
    return open_store(resolve_spec(getattr(args, "store", None), getattr(args, "data", None)), writable=writable)
