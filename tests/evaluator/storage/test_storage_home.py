"""The store spec, the local home, and the private-path guard of the Hub home (no network needed:
the guard refuses before any request is made)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.storage import (
    DataDir,
    LocalStore,
    PrivatePathRefused,
    StoreError,
    StoreSpec,
    as_store,
    open_store,
    parse_store,
    resolve_spec,
)
from evaluator.storage.hub import HubStore, check_path, content_keys, git_blob_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("local:/tmp/x", StoreSpec("local", path=Path("/tmp/x"))),
        ("local:var", StoreSpec("local", path=Path("var"))),
        ("hub:my-org/crisis", StoreSpec("hub", org="my-org", prefix="crisis")),
        ("hub:Org_1/lb.v2", StoreSpec("hub", org="Org_1", prefix="lb.v2")),
    ],
)
def test_parse_store_accepts(text: str, expected: StoreSpec) -> None:
    assert parse_store(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "var",
        "s3:bucket/x",
        "hub:org",
        "hub:org/",
        "hub:/prefix",
        "hub:org/prefix/extra",
        "hub:org/pre fix",
        "hub:-org/prefix",
        "hub:org/prefix-",
        "hub:org/a..b",
        "hub:org/a--b",
        "hub:org/prefix\n",
        "local:",
        "local:a\x00b",
        "hub:" + "o" * 65 + "/p",
    ],
)
def test_parse_store_refuses(text: str) -> None:
    with pytest.raises(StoreError):
        parse_store(text)


def test_resolve_spec_precedence(tmp_path: Path) -> None:
    env = {"CRISIS_STORE": "hub:o/p", "CRISIS_DATA": str(tmp_path / "d")}
    assert resolve_spec("local:/a", None, env) == StoreSpec("local", path=Path("/a"))
    assert resolve_spec(None, "/b", env) == StoreSpec("local", path=Path("/b"))
    assert resolve_spec(None, None, env) == StoreSpec("hub", org="o", prefix="p")
    assert resolve_spec(None, None, {"CRISIS_DATA": "/c"}) == StoreSpec("local", path=Path("/c"))
    assert resolve_spec(None, None, {}) == StoreSpec("local", path=Path("./var"))
    with pytest.raises(StoreError, match="not both"):
        resolve_spec("local:/a", "/b", env)


def test_local_store_is_the_directory(tmp_path: Path) -> None:
    store = open_store(f"local:{tmp_path}")
    assert isinstance(store, LocalStore)
    assert store.data.root == tmp_path and store.data == DataDir(tmp_path)
    assert not store.read_only and store.status_line is None
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.parquet").write_bytes(b"x")
    store.push(["results/r.parquet"], "no-op locally")
    assert as_store(store) is store
    assert isinstance(as_store(store.data), LocalStore) and as_store(store.data).data == store.data


def test_a_data_dir_is_plain_paths_and_a_hub_mirror_is_never_written_as_a_local_home(tmp_path: Path) -> None:
    assert DataDir(tmp_path) == DataDir(tmp_path) and not hasattr(DataDir(tmp_path), "home")
    hub = _offline_hub(tmp_path)
    (hub.data.root / ".hub").mkdir(parents=True)
    assert as_store(hub) is hub
    with pytest.raises(StoreError, match="Hub store's mirror"):
        as_store(hub.data)


def _offline_hub(tmp_path: Path) -> HubStore:
    # An endpoint nothing listens on: any network call would fail with StoreUnavailable,
    # so a PrivatePathRefused proves the guard acted first.
    return HubStore(parse_store("hub:org/lb"), tmp_path / "mirror", endpoint="http://127.0.0.1:9")


@pytest.mark.parametrize(
    "path", ["runs/abc/replies.jsonl", "sets/held-out/v1/items.jsonl", "cache/cache.sqlite", "logs/x", "queue/p"]
)
@pytest.mark.parametrize("repo", ["org/lb-requests", "org/lb-results"])
def test_the_one_commit_refuses_private_paths_for_public_repos(tmp_path: Path, repo: str, path: str) -> None:
    hub = _offline_hub(tmp_path)
    with pytest.raises(PrivatePathRefused, match=r"private|does not belong"):
        hub._commit(repo, {path: b"secret"}, message="leak")
    with pytest.raises(PrivatePathRefused):
        hub._commit(repo, {"results/ok.parquet": b"x", path: b"secret"}, message="mixed")
    with pytest.raises(PrivatePathRefused):
        hub._commit(repo, {}, [path], message="delete")
    assert hub.commits == 0


@pytest.mark.parametrize("path", ["../results/x", "/results/x", "results//x", "results/./x", "results\\x", ""])
def test_paths_outside_the_layout_are_refused(tmp_path: Path, path: str) -> None:
    hub = _offline_hub(tmp_path)
    with pytest.raises(PrivatePathRefused):
        hub._commit("org/lb-results", {path: b"x"}, message="escape")
    with pytest.raises(PrivatePathRefused):
        check_path(path)


def test_areas_are_routed_to_their_repo(tmp_path: Path) -> None:
    hub = _offline_hub(tmp_path)
    assert hub.repo_for("requests/a.json").repo_id == "org/lb-requests"
    assert hub.repo_for("results/a.parquet").repo_id == "org/lb-results"
    assert hub.repo_for("public/examples/a.jsonl").repo_id == "org/lb-results"
    for private in ("runs/a/spec.json", "sets/s/v/items.jsonl", "cache/c", "logs/l", "queue/q"):
        repo = hub.repo_for(private)
        assert repo.repo_id == "org/lb-private" and repo.private
    with pytest.raises(PrivatePathRefused):
        hub.repo_for("elsewhere/x")
    with pytest.raises(PrivatePathRefused, match="not one of"):
        hub._commit("org/other", {"results/x": b"x"}, message="other repo")


def test_content_keys_match_git_and_lfs() -> None:
    # git's blob id of "hello\n" (as `git hash-object` prints it)
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert content_keys(b"hello\n")[1] == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "submissions", "list", "--store", "hub:nope"],
        [sys.executable, "-m", "leaderboard", "table", "--store", "s3:x/y"],
        [sys.executable, "-m", "evaluator", "audit", "--store", "hub:a/b/c"],
        [sys.executable, "-m", "evaluator", "worker", "--once", "--store", "local:"],
    ],
)
def test_a_bad_store_is_one_line_and_exit_2(argv: list[str], tmp_path: Path) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=Path(__file__).parents[3], timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--store" in lines[0], result.stderr
