"""The Hub home against the loopback Hub emulator, through the real huggingface_hub client over HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluator.storage import CommitConflict, PrivatePathRefused, StoreError, StoreUnavailable, parse_store
from evaluator.storage.hub import HubStore, create_repos, migrate
from tests.support.hub_store import HubSite, hub_site, parquet_bytes

STORE = "hub:crisis-org/lb"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def test_init_store_creates_three_repos_with_visibility_and_cards(site: HubSite) -> None:
    store = site.open("writer")
    for role, private in (("requests", False), ("results", False), ("private", True)):
        info = store._info(store.repos[role])
        assert bool(info.private) is private
    card = site.anonymous_download("crisis-org/lb-results", "README.md").decode()
    assert "path: results/*.parquet" in card and "harm_rate" in card and "set_version" in card
    # The private repo is invisible without a token.
    with pytest.raises(Exception, match=r"404|not found|Repository Not Found"):
        site.anonymous_download("crisis-org/lb-private", "README.md")
    # Idempotent: a second init changes nothing.
    before = store._head(store.repos["results"])
    create_repos(store, site.cards())
    assert store._head(store.repos["results"]) == before


def test_a_push_reaches_another_mirror_and_deletions_follow(site: HubSite) -> None:
    writer, reader = site.open("writer"), site.open("reader")
    (writer.data.results).mkdir(parents=True)
    (writer.data.results / "run1.parquet").write_bytes(parquet_bytes("m1"))
    (writer.data.public / "examples").mkdir(parents=True)
    (writer.data.public / "examples" / "run1.jsonl").write_text('{"x": 1}\n')
    writer.push(["results/run1.parquet", "public/examples/run1.jsonl"], "results")
    assert writer.commits == 1  # both files in the results repo: one commit
    assert not (reader.data.results / "run1.parquet").exists()
    reader.refresh()
    assert (reader.data.results / "run1.parquet").read_bytes() == (writer.data.results / "run1.parquet").read_bytes()
    # Pushing the same bytes again commits nothing.
    writer.push(["results/run1.parquet"], "again")
    assert writer.commits == 1
    writer.commit_files({}, ["results/run1.parquet"], message="retract")
    reader.refresh()
    assert not (reader.data.results / "run1.parquet").exists()
    assert (reader.data.public / "examples" / "run1.jsonl").exists()


def _mirrored_files(store: HubStore) -> set[str]:
    root = store.data.root
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".hub" not in p.parts}


def test_a_narrow_mirror_keeps_only_its_areas_and_still_pulls_and_pushes(site: HubSite) -> None:
    writer = site.open("writer")
    files = {
        "results/run1.parquet": parquet_bytes("m1"),
        "requests/r1.json": b'{"id": "r1"}\n',
        "sets/held/v1/items.jsonl": b'{"id": "x"}\n',
        "runs/run1/replies.jsonl": b'{"item_id": "x"}\n',
    }
    for path, content in files.items():
        (writer.data.root / path).parent.mkdir(parents=True, exist_ok=True)
        (writer.data.root / path).write_bytes(content)
    writer.push(list(files), "seed")

    full = site.open("full")
    assert {"results/run1.parquet", "requests/r1.json", "sets/held/v1/items.jsonl"} <= _mirrored_files(full)
    results_only = site.open("results-only", mirrored=("results/",))
    assert _mirrored_files(results_only) == {"results/run1.parquet"}
    # A task's mirror: nothing until it pulls its run; what it pushes reaches everyone.
    task = site.open("task", mirrored=())
    assert _mirrored_files(task) == set()
    task.refresh()
    assert _mirrored_files(task) == set()
    task.pull("runs/run1/")
    assert _mirrored_files(task) == {"runs/run1/replies.jsonl"}
    (task.data.root / "runs/run1/replies.jsonl").write_bytes(b'{"item_id": "x"}\n{"item_id": "y"}\n')
    task.push(["runs/run1/replies.jsonl"], "checkpoint")
    assert task.commits == 1 and "runs/run1/replies.jsonl" in writer.remote_files("private")
    assert _mirrored_files(task) == {"runs/run1/replies.jsonl"}


def test_a_mirror_opened_wider_than_before_lists_the_repos_again(site: HubSite) -> None:
    writer = site.open("writer")
    (writer.data.results).mkdir(parents=True)
    (writer.data.results / "run1.parquet").write_bytes(parquet_bytes("m1"))
    writer.push(["results/run1.parquet"], "results")
    narrow = site.open("same-dir", mirrored=())
    assert _mirrored_files(narrow) == set()
    narrow.close()
    # The same directory at the same heads, now for everything: not taken as up to date.
    wide = site.open("same-dir")
    assert "results/run1.parquet" in _mirrored_files(wide)


def test_a_mirror_of_an_area_no_repo_mirrors_is_refused(site: HubSite) -> None:
    with pytest.raises(StoreError, match="keeps only"):
        site.open("odd", mirrored=("runs/",))


def test_private_paths_never_reach_a_public_repo_over_http(site: HubSite) -> None:
    store = site.open("writer")
    head = store._head(store.repos["results"])
    for path in ("runs/r/replies.jsonl", "sets/held/v1/items.jsonl", "cache/cache.sqlite"):
        with pytest.raises(PrivatePathRefused):
            store._commit("crisis-org/lb-results", {path: b"secret"}, message="leak")
        with pytest.raises(PrivatePathRefused):
            store._commit("crisis-org/lb-requests", {path: b"secret"}, message="leak")
    assert store._head(store.repos["results"]) == head
    # Routed by area, the same files go to the private repo only.
    (store.data.root / "sets" / "held" / "v1").mkdir(parents=True)
    (store.data.root / "sets" / "held" / "v1" / "items.jsonl").write_text('{"id": "x"}\n')
    store.push(["sets/held/v1/items.jsonl"], "set")
    assert "sets/held/v1/items.jsonl" in store.remote_files("private")
    assert "sets/held/v1/items.jsonl" not in store.remote_files("results")


def test_a_stale_parent_is_a_conflict(site: HubSite) -> None:
    a, b = site.open("a"), site.open("b")
    parent = a.mirror_sha("requests")
    b.commit_files({"requests/x.json": b"{}\n"}, message="b first", parent=b.mirror_sha("requests"))
    with pytest.raises(CommitConflict):
        a.commit_files({"requests/y.json": b"{}\n"}, message="a stale", parent=parent)
    assert a.conflicts == 1
    head = a.refresh_role("requests")
    a.commit_files({"requests/y.json": b"{}\n"}, message="a again", parent=head)


def test_a_public_private_repo_refuses_to_start(site: HubSite) -> None:
    site.make_public("crisis-org/lb-private")
    with pytest.raises(StoreError, match="lb-private is public"):
        site.open("writer")
    with pytest.raises(StoreError, match="lb-private is public"):
        site.open("reader", writable=False)


def test_unauthorised_and_offline_are_one_clear_line(site: HubSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.open("warm")  # leaves a mirror behind for the read-only case
    with pytest.raises(StoreUnavailable, match=r"lb-.*write access"):
        site.open("reader-token", token=site.read_token)
    with pytest.raises(StoreUnavailable, match=r"lb-private.*no read access"):
        site.open("no-token", token="")
    readonly = site.open("warm", token=site.read_token, writable=False)
    assert readonly.read_only and "write access" in (readonly.status_line or "")
    with pytest.raises(StoreUnavailable):
        readonly.commit_files({"requests/z.json": b"{}"}, message="refused")

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(StoreUnavailable, match="offline mode"):
        site.open("fresh")
    served = site.open("warm", writable=False)
    assert served.read_only
    assert "offline" in (served.status_line or "") and "read-only" in (served.status_line or "")


def test_the_hub_going_away_keeps_the_last_mirror(site: HubSite) -> None:
    writer, reader = site.open("writer"), site.open("reader", writable=False)
    (writer.data.results).mkdir(parents=True)
    (writer.data.results / "r.parquet").write_bytes(parquet_bytes("m"))
    writer.push(["results/r.parquet"], "r")
    reader.refresh()
    site.stop()
    reader.refresh()
    assert (reader.data.results / "r.parquet").exists()
    assert "not answering" in (reader.status_line or "")
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        writer.commit_files({"requests/q.json": b"{}"}, message="down")
    site.start()
    reader.refresh()
    assert reader.status_line is None


def test_migrate_is_idempotent_and_resumable(site: HubSite, tmp_path: Path) -> None:
    local = tmp_path / "local"
    (local / "results").mkdir(parents=True)
    (local / "requests").mkdir()
    (local / "runs" / "r1").mkdir(parents=True)
    (local / "queue" / "locks").mkdir(parents=True)
    (local / "results" / "r1.parquet").write_bytes(parquet_bytes("m"))
    (local / "requests" / "a.json").write_text("{}\n")
    (local / "runs" / "r1" / "replies.jsonl").write_text('{"a": 1}\n')
    (local / "queue" / "locks" / "a.lock").write_text("")
    store = site.open("migrate")
    lines: list[str] = []
    assert migrate(local, store, say=lines.append) == 3
    assert any("lb-results: copied 1 files" in line for line in lines)
    assert any("queue/: skipped" in line for line in lines)
    assert "runs/r1/replies.jsonl" in store.remote_files("private")
    assert "runs/r1/replies.jsonl" not in store.remote_files("results")
    commits = store.commits
    lines.clear()
    assert migrate(local, store, say=lines.append) == 0
    assert store.commits == commits
    assert any("1 already there" in line for line in lines)
    (local / "results" / "r2.parquet").write_bytes(parquet_bytes("m2"))
    assert migrate(local, store, say=lines.append) == 1


def test_parquet_helper_roundtrip() -> None:
    table = pq.read_table(io.BytesIO(parquet_bytes("model-x")))
    assert table.column("model").to_pylist() == ["model-x"]
    assert isinstance(table, pa.Table)


def test_spec_has_three_repos() -> None:
    store = HubStore(parse_store(STORE), Path("/nonexistent"))
    assert sorted(r.repo_id for r in store.repos.values()) == [
        "crisis-org/lb-private",
        "crisis-org/lb-requests",
        "crisis-org/lb-results",
    ]


def test_init_store_migrate_list_and_audit_through_the_clis(site: HubSite, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).parents[3]
    env = {**os.environ, **site.env("cli"), "PYTHONPATH": str(root)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *argv], cwd=root, env=env, capture_output=True, text=True, timeout=180
        )

    made = run("submissions", "init-store", "--store", "hub:crisis-org/cli")
    assert made.returncode == 0, made.stderr
    assert "crisis-org/cli-private: private" in made.stdout and "crisis-org/cli-results: public" in made.stdout
    local = tmp_path / "var"
    (local / "results").mkdir(parents=True)
    (local / "results" / "r1.parquet").write_bytes(parquet_bytes("m"))
    moved = run("submissions", "migrate", "--from", f"local:{local}", "--to", "hub:crisis-org/cli")
    assert moved.returncode == 0, moved.stderr
    assert "crisis-org/cli-results: copied 1 files" in moved.stdout
    again = run("submissions", "migrate", "--from", f"local:{local}", "--to", "hub:crisis-org/cli")
    assert "already has everything" in again.stdout
    listed = run("submissions", "list", "--store", "hub:crisis-org/cli")
    assert listed.returncode == 0 and "no requests" in listed.stdout, listed.stderr
    audited = run("evaluator", "audit", "--store", "hub:crisis-org/cli")
    assert audited.returncode == 0 and "audit clean" in audited.stdout, audited.stderr
    mixed = run("submissions", "list", "--store", "hub:crisis-org/nothing-here")
    assert mixed.returncode == 2 and "belongs to hub:crisis-org/cli" in mixed.stderr
    env.update(site.env("cli-fresh"))
    missing = run("submissions", "list", "--store", "hub:crisis-org/nothing-here")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "crisis-org/nothing-here-requests" in missing.stderr
