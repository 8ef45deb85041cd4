"""The manifest of a Hub store's local mirror: per repo, the commit the mirror is at and each file's
content keys (git blob id or LFS sha256, as the Hub's tree reports them). evaluator.storage.hub keeps
one per repo under `<mirror>/.hub/<role>.json`."""

from __future__ import annotations

import contextlib
from pathlib import Path

from evaluator.storage.layout import atomic_write_json, read_json


class Manifest:
    """What the mirror holds of one repo: the commit it is at and each file's content keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha: str | None = None
        self.files: dict[str, list[str]] = {}
        # The prefixes last brought up to `sha` (None: all the repo's, as manifests before
        # narrow mirrors were): a mirror opened for more than that must list the tree again.
        self.covers: frozenset[str] | None = None
        with contextlib.suppress(FileNotFoundError, ValueError, TypeError, KeyError):
            value = read_json(path)
            self.sha = value["sha"]
            self.files = {str(k): list(v) for k, v in value["files"].items()}
            covers = value.get("covers")
            self.covers = None if covers is None else frozenset(str(p) for p in covers)

    def up_to(self, head: str, prefixes: tuple[str, ...]) -> bool:
        return head == self.sha and (self.covers is None or set(prefixes) <= self.covers)

    def save(self) -> None:
        covers = None if self.covers is None else sorted(self.covers)
        atomic_write_json(self.path, {"sha": self.sha, "files": self.files, "covers": covers})
