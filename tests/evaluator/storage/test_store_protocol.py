"""The `Store` interface (evaluator.storage.base), the same checks against both homes.

The local home is a data directory; the Hub home is three dataset repos on the loopback Hub
emulator, through the real huggingface_hub client over HTTP. Each test opens two stores on the
same home, a writer and a reader with its own view (its own mirror on the Hub), as two machines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from evaluator.storage import (
    Delete,
    PrivatePathRefused,
    Put,
    Store,
    StoreError,
    open_store,
    parse_store,
)
from evaluator.storage.cards import cards_for
from evaluator.storage.hub import HubStore, create_repos, repos_for
from tests.support.hub_emulator import HubEmulator

Opener = Callable[[str], Store]

RESULTS = "results/run1.parquet"
EXAMPLES = "public/examples/run1.jsonl"
SPEC = "runs/run1/spec.json"  # a private area


@pytest.fixture(params=["local", "hub"])
def open_home(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a store (a new machine's view, by name) on one home."""
    if request.param == "local":
        return lambda name: open_store(f"local:{tmp_path / 'data'}")
    hub: HubEmulator = request.getfixturevalue("hub_emulator")
    spec = parse_store(f"hub:{hub.org}/lb")
    assert spec.org and spec.prefix

    def env(name: str) -> dict[str, str]:
        return {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.write_token, "CRISIS_MIRROR_DIR": str(tmp_path / name)}

    repos = {role: repo.repo_id for role, repo in repos_for(spec.org, spec.prefix).items()}
    create_repos(HubStore.from_env(spec, env("init-store")), cards_for(repos))
    opened: list[Store] = []
    request.addfinalizer(lambda: [store.close() for store in opened])

    def open_hub(name: str) -> Store:
        opened.append(open_store(spec, env=env(name)))
        return opened[-1]

    return open_hub


def test_a_commit_is_read_back_listed_and_reaches_another_reader(open_home: Opener) -> None:
    writer, reader = open_home("writer"), open_home("reader")
    parquet, example, spec = b"PAR1 rows PAR1", b'{"item": 1}\n', b'{"model": "m"}\n'
    writer.commit([Put(RESULTS, parquet), Put(EXAMPLES, example), Put(SPEC, spec)], "run1")
    assert writer.read_bytes(RESULTS) == parquet and writer.read_bytes(SPEC) == spec
    assert writer.list_files("results/") == [RESULTS]
    assert writer.list_files("public") == [EXAMPLES]
    assert writer.list_files("runs/run1/") == [SPEC]
    assert writer.list_files("sets/") == []
    # The reader's view follows after a mirror refresh; a private run is fetched on demand.
    reader.refresh()
    assert reader.read_bytes(RESULTS) == parquet and reader.read_bytes(EXAMPLES) == example
    assert reader.list_files("results/") == [RESULTS]
    reader.pull("runs/run1/")
    assert reader.read_bytes(SPEC) == spec
    # The data directory is what the reads read.
    assert (reader.data.root / RESULTS).read_bytes() == parquet


def test_a_replacement_and_a_deletion_reach_the_reader(open_home: Opener) -> None:
    writer, reader = open_home("writer"), open_home("reader")
    writer.commit([Put(RESULTS, b"v1"), Put(EXAMPLES, b"e1\n")], "first")
    writer.commit([Put(RESULTS, b"v2"), Delete(EXAMPLES)], "second")
    assert writer.read_bytes(RESULTS) == b"v2"
    assert writer.read_bytes(EXAMPLES) is None and writer.list_files("public/") == []
    reader.refresh(force=True)
    assert reader.read_bytes(RESULTS) == b"v2"
    assert reader.read_bytes(EXAMPLES) is None and reader.list_files("public/") == []


def test_files_written_under_data_are_pushed_and_local_only_files_are_never_listed(open_home: Opener) -> None:
    writer, reader = open_home("writer"), open_home("reader")
    target = writer.data.root / "requests" / "r1.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b'{"id": "r1"}\n')
    (target.parent / ".r1.json.abc.tmp").write_bytes(b"half")  # an atomic write's temporary
    writer.push(["requests/r1.json"], "request r1")
    assert writer.list_files("requests/") == ["requests/r1.json"]
    reader.refresh()
    assert reader.read_bytes("requests/r1.json") == b'{"id": "r1"}\n'
    assert reader.list_files("requests/") == ["requests/r1.json"]


BAD_COMMITS = [
    [Put("../outside.json", b"x")],
    [Put("/etc/passwd", b"x")],
    [Put("results/./run.parquet", b"x")],
    [Put("README.md", b"x")],  # in no area of the layout
    [Put("elsewhere/run.parquet", b"x")],
    [Put(RESULTS, b"fine"), Put("results/../runs/leak.json", b"x")],  # one bad path refuses all
    [Put(RESULTS, b"fine"), Delete("../outside.json")],
]


def test_paths_outside_the_layout_refuse_the_whole_commit(open_home: Opener) -> None:
    writer, reader = open_home("writer"), open_home("reader")
    for bad in BAD_COMMITS:
        with pytest.raises(PrivatePathRefused):
            writer.commit(bad, "bad")
    assert writer.read_bytes(RESULTS) is None and writer.list_files("results/") == []
    reader.refresh(force=True)
    assert reader.read_bytes(RESULTS) is None
    with pytest.raises(PrivatePathRefused):
        writer.read_bytes("../outside.json")


def test_an_empty_commit_and_deleting_what_is_not_there_are_errors(open_home: Opener) -> None:
    writer = open_home("writer")
    with pytest.raises(StoreError, match="nothing to commit"):
        writer.commit([], "nothing")
    writer.commit([Put(RESULTS, b"v1")], "first")
    # Last: on the Hub a refused write pauses that repo's writes for a while.
    with pytest.raises(StoreError):
        writer.commit([Delete("results/never.parquet")], "delete nothing")
    assert writer.read_bytes(RESULTS) == b"v1"


def test_hub_commit_goes_through_the_one_commit_function_and_private_areas_stay_private(
    hub_emulator: HubEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = parse_store(f"hub:{hub_emulator.org}/lb")
    assert spec.org and spec.prefix
    env = {"HF_ENDPOINT": hub_emulator.endpoint, "HF_TOKEN": hub_emulator.write_token}
    repos = {role: repo.repo_id for role, repo in repos_for(spec.org, spec.prefix).items()}
    create_repos(HubStore.from_env(spec, {**env, "CRISIS_MIRROR_DIR": str(tmp_path / "init")}), cards_for(repos))
    store = open_store(spec, env={**env, "CRISIS_MIRROR_DIR": str(tmp_path / "writer")})
    assert isinstance(store, HubStore)
    calls: list[tuple[str, list[str], list[str]]] = []
    real_commit = HubStore._commit

    def counted(
        self: HubStore, repo_id: str, puts: Mapping[str, bytes], deletes: Iterable[str] = (), **kwargs: Any
    ) -> str:
        deletes = list(deletes)
        calls.append((repo_id, sorted(puts), sorted(deletes)))
        return real_commit(self, repo_id, puts, deletes, **kwargs)

    monkeypatch.setattr(HubStore, "_commit", counted)
    store.commit([Put(SPEC, b"{}\n"), Put(RESULTS, b"rows"), Put("sets/held/v1/items.jsonl", b"{}\n")], "run1")
    # One commit per repo, in the order the repos first appear, each through `_commit`.
    assert calls == [
        (repos["private"], [SPEC, "sets/held/v1/items.jsonl"], []),
        (repos["results"], [RESULTS], []),
    ]
    assert store.commits == 2
    assert set(hub_emulator.files(repos["private"])) >= {SPEC, "sets/held/v1/items.jsonl"}
    public = {**hub_emulator.files(repos["results"]), **hub_emulator.files(repos["requests"])}
    assert RESULTS in public and not any(p.startswith(("runs/", "sets/")) for p in public)
    # `_commit` itself still refuses a private path for a public repo, whoever calls it.
    with pytest.raises(PrivatePathRefused):
        store._commit(repos["results"], {SPEC: b"leak"}, message="leak")
    store.close()
