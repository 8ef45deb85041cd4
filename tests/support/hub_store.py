"""A Hub store on the loopback Hub emulator, for the storage, queue and end-to-end tests.

`hub_site(...)` starts the emulator (tests/support/hub_emulator.py), creates the store's
three repos through `init-store`'s own code, and hands out HubStore objects that each have
their own mirror directory, as separate machines would.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluator.storage import parse_store
from evaluator.storage.cards import cards_for
from evaluator.storage.hub import HubStore, create_repos, repos_for
from tests.support.hub_emulator import HubEmulator


def parquet_bytes(model: str) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"model": [model], "category": ["overall"], "run_id": [f"run-{model}"]}), sink)
    return sink.getvalue()


@dataclass
class HubSite:
    root: Path
    spec: str
    emulator: HubEmulator
    opened: list[HubStore] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint

    @property
    def write_token(self) -> str:
        return self.emulator.write_token

    @property
    def read_token(self) -> str:
        return self.emulator.read_token

    def env(self, name: str, token: str | None = None) -> dict[str, str]:
        """What a process on its own machine would have: endpoint, token, its own mirror."""
        return {
            "HF_ENDPOINT": self.endpoint,
            "HF_TOKEN": self.write_token if token is None else token,
            "HF_HUB_OFFLINE": "0",
            "CRISIS_MIRROR_DIR": str(self.root / "mirrors" / name),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }

    def task_env(self, node: Path) -> dict[str, str]:
        """What a Ray task on a node of its own is given: this site's Hub settings and a scratch
        directory on that node, never the driver's mirror."""
        env = {k: v for k, v in self.env("node").items() if k != "CRISIS_MIRROR_DIR"}
        return {**env, "CRISIS_TASK_DIR": str(node)}

    def watch_commits(self, monkeypatch: pytest.MonkeyPatch, suffix: str, lines: int) -> threading.Event:
        """An event set once a commit carries a file ending in `suffix` with at least `lines` lines."""
        seen = threading.Event()
        commit = self.emulator._new_commit

        def watching(title: str, message: str, author: str, files: dict[str, bytes]) -> Any:
            if any(p.endswith(suffix) and c.count(b"\n") >= lines for p, c in files.items()):
                seen.set()
            return commit(title, message, author, files)

        monkeypatch.setattr(self.emulator, "_new_commit", watching)
        return seen

    def open(
        self, name: str, *, writable: bool = True, token: str | None = None, mirrored: tuple[str, ...] | None = None
    ) -> HubStore:
        store = HubStore.open(parse_store(self.spec), writable=writable, env=self.env(name, token), mirrored=mirrored)
        self.opened.append(store)
        return store

    def cards(self) -> dict[str, str]:
        spec = parse_store(self.spec)
        assert spec.org and spec.prefix
        return cards_for({role: repo.repo_id for role, repo in repos_for(spec.org, spec.prefix).items()})

    def anonymous_download(self, repo_id: str, path: str) -> bytes:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import get_session, hf_raise_for_status

        url = hf_hub_url(repo_id, path, repo_type="dataset", revision="main", endpoint=self.endpoint)
        response = get_session().get(url, follow_redirects=True)
        hf_raise_for_status(response)
        return bytes(response.content)

    def make_public(self, repo_id: str) -> None:
        from huggingface_hub import HfApi

        HfApi(endpoint=self.endpoint, token=self.write_token).update_repo_settings(
            repo_id, private=False, repo_type="dataset"
        )

    def stop(self) -> None:
        self.emulator.down()

    def start(self) -> None:
        self.emulator.up()

    def failing(self, status: int = 500) -> None:
        """Every request answered with `status` until `recovered()`."""
        self.emulator.fail_next(100_000, status=status)

    def recovered(self) -> None:
        self.emulator.clear_faults()


@contextlib.contextmanager
def _running(root: Path, spec: str) -> Iterator[HubSite]:
    emulator = HubEmulator().start()
    site = HubSite(root, spec, emulator)
    try:
        setup = HubStore.from_env(parse_store(spec), site.env("init-store"))
        create_repos(setup, site.cards())
        yield site
    finally:
        for store in site.opened:
            store.close()
        emulator.stop()


@contextlib.contextmanager
def hub_site(root: Path, monkeypatch: pytest.MonkeyPatch, spec: str) -> Iterator[HubSite]:
    import huggingface_hub.constants

    # The test run is offline (HF_HUB_OFFLINE=1); these tests talk to a loopback Hub only.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with _running(root, spec) as site:
        yield site


@contextlib.contextmanager
def bench_site(root: Path, spec: str) -> Iterator[tuple[HubSite, Callable[[str], HubStore]]]:
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_OFFLINE = False
    with _running(root, spec) as site:
        yield site, site.open
