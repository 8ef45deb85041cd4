"""Where the data lives: `local:DIR` or `hub:ORG/PREFIX` (ARCHITECTURE.md, "one layout, two homes").

Every reader reads `store.data`, a DataDir: the directory itself locally, a mirror of the
three Hub repos on the Hub. Writers write files there as they always have and then `push`
the paths they wrote; locally that is a no-op, on the Hub it is one commit per repo. Or they
hand the bytes to `commit` (the `Store` interface of evaluator.storage.base, which both homes
implement). The request store (submissions.store) and the result store (leaderboard.store)
sit on this.

Choosing the store: `--store SPEC`, else `--data DIR` (shorthand for local:DIR), else
$CRISIS_STORE, else local:$CRISIS_DATA, else local:./var.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from evaluator.storage.base import (
    STORE_HELP,
    Delete,
    Operation,
    Put,
    Store,
    StoreError,
    StoreSpec,
    check_path,
    layout_path,
    list_tree,
    parse_store,
)
from evaluator.storage.hub import MANIFEST_DIR, HubStore
from evaluator.storage.layout import DEFAULT_DATA_DIR, DataDir, atomic_write_bytes


class LocalStore:
    """Today's data directory: files written in place are already stored."""

    def __init__(self, root: Path) -> None:
        self.spec = StoreSpec("local", path=root)
        self.data = DataDir(root)

    read_only = False
    status_line = None

    def refresh(self, *, force: bool = False) -> None:
        return None

    def pull(self, prefix: str) -> None:
        return None

    def push(self, paths: Iterable[str], message: str) -> None:
        return None

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return (self.data.root / check_path(path)).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def list_files(self, prefix: str) -> list[str]:
        return list_tree(self.data.root, prefix)

    def commit(self, operations: Iterable[Operation], message: str) -> None:
        # Check every path before writing any, as one Hub commit is refused as a whole.
        checked = [(layout_path(op.path), op) for op in operations]
        if not checked:
            raise StoreError("nothing to commit")
        for path, op in checked:
            if isinstance(op, Delete) and not (self.data.root / path).is_file():
                raise StoreError(f"cannot delete {path!r}: no such file in the store")
        for path, op in checked:
            if isinstance(op, Put):
                atomic_write_bytes(self.data.root / path, op.content)
            else:
                with contextlib.suppress(FileNotFoundError):
                    (self.data.root / path).unlink()

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
    return HubStore.open(parsed, writable=writable, env=env, mirrored=mirrored)


def as_store(where: Store | DataDir) -> Store:
    """The store a writer was handed: a Store as it is; a plain DataDir is its own local home.

    A Hub store's mirror handed as a bare DataDir is refused rather than written as a local
    directory: what is written there would never reach the Hub. Hand the writer the HubStore."""
    if not isinstance(where, DataDir):
        return where
    if (where.root / MANIFEST_DIR).is_dir():
        raise StoreError(f"{where.root} is a Hub store's mirror: writes there go through its store, not the directory")
    return LocalStore(where.root)


def data_of(where: Store | DataDir) -> DataDir:
    """Where a Store (or a plain DataDir) is read."""
    return where if isinstance(where, DataDir) else where.data


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
