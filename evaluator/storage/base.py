"""What every storage home shares: the store spec, the errors, and the `Store` interface.

Both homes (`home.LocalStore`, `hub.HubStore`) implement `Store`; both import this module and
neither imports the other's, so the storage layer has no import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final, Protocol

from evaluator.storage.layout import PRIVATE_AREAS, PUBLIC_AREAS, DataDir

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


def check_path(path: str) -> str:
    """A repo-relative POSIX path with no way out of the layout."""
    pure = PurePosixPath(path)
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in path.split("/")):
        raise PrivatePathRefused(f"{path!r} is not a plain relative path in the data layout")
    return str(pure)


def layout_path(path: str) -> str:
    """`check_path`, and the path's first part is one of the layout's areas (what a commit may touch)."""
    clean = check_path(path)
    if clean.split("/", 1)[0] not in (*PUBLIC_AREAS, *PRIVATE_AREAS):
        raise PrivatePathRefused(f"{path!r} is in no area of the data layout")
    return clean


def local_only(path: str) -> bool:
    """SQLite side files, atomic-write temporaries and staging files never leave the machine."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith(".") or name.endswith(("-wal", "-shm", "-journal", ".tmp", ".lock")) or ".staged." in name


def list_tree(root: Path, prefix: str) -> list[str]:
    """Relative paths of the files under `root/prefix` in path order, local-only ones left out."""
    base = root / check_path(prefix.rstrip("/"))
    if not base.is_dir():
        return []
    found = (p.relative_to(root).as_posix() for p in sorted(base.rglob("*")) if p.is_file())
    return [rel for rel in found if not local_only(rel)]


@dataclass(frozen=True)
class Put:
    """A commit operation: store `content` at `path` (relative, in the data layout)."""

    path: str
    content: bytes


@dataclass(frozen=True)
class Delete:
    """A commit operation: remove the stored file at `path`; an error if nothing is stored there."""

    path: str


Operation = Put | Delete


class Store(Protocol):
    """What every home offers: reads from `data`, listing, commits of operations, mirror refresh.

    Reads see `data`, a DataDir: the directory itself locally, the mirror on the Hub (brought
    up to date by `refresh`, or by `pull` for a private area not kept on a timer). Writes are
    `commit` (bytes handed over) or `push` (files already written under `data`).
    """

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

    def read_bytes(self, path: str) -> bytes | None:
        """The stored bytes at `path` (relative) as `data` holds them; None if there is no such file."""
        ...

    def list_files(self, prefix: str) -> list[str]:
        """Relative paths of the files `data` holds under the folder `prefix`, sorted."""
        ...

    def commit(self, operations: Iterable[Operation], message: str) -> None:
        """Apply the operations and update `data`. Every path is checked before anything is
        written; a path outside the layout's areas (or a private path bound for a public repo)
        raises PrivatePathRefused. On the Hub: one commit per repo the paths belong to."""
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
