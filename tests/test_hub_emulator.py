"""The Hub emulator, driven by the real huggingface_hub client over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.support.hub_emulator import HubEmulator, trigger

ROOT = Path(__file__).resolve().parents[1]
REPO = "crisis-org/board-private"


def add(path: str, content: bytes | str) -> CommitOperationAdd:
    return CommitOperationAdd(path, content.encode() if isinstance(content, str) else content)


def status_of(exc: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    return exc.value.response.status_code


def test_the_client_is_pointed_at_the_emulator(hub_emulator: HubEmulator) -> None:
    import huggingface_hub

    assert HfApi().endpoint == hub_emulator.endpoint
    assert huggingface_hub.whoami()["name"] == hub_emulator.user  # the module-level api too
    assert os.environ["HF_HUB_OFFLINE"] == "0"


def test_create_commit_download_and_list(hub_emulator: HubEmulator, tmp_path: Path) -> None:
    api = HfApi()
    url = api.create_repo(REPO, repo_type="dataset", private=True)
    assert url.repo_id == REPO and url.repo_type == "dataset"
    info = api.dataset_info(REPO)
    assert info.private is True and [s.rfilename for s in info.siblings or []] == [".gitattributes"]

    commit = api.create_commit(
        REPO,
        repo_type="dataset",
        operations=[add("queue/a.json", '{"n": 1}'), add("runs/r1/spec.json", "{}"), add("README.md", "# card\n")],
        commit_message="first",
        parent_commit=info.sha,
    )
    assert api.dataset_info(REPO).sha == commit.oid
    assert sorted(api.list_repo_files(REPO, repo_type="dataset")) == [
        ".gitattributes",
        "README.md",
        "queue/a.json",
        "runs/r1/spec.json",
    ]
    path = hf_hub_download(REPO, "queue/a.json", repo_type="dataset")
    assert json.loads(Path(path).read_text()) == {"n": 1}

    api.create_commit(
        REPO,
        repo_type="dataset",
        operations=[CommitOperationDelete("queue/a.json"), CommitOperationDelete("runs/", is_folder=True)],
        commit_message="second",
    )
    assert api.list_repo_files(REPO, repo_type="dataset") == [".gitattributes", "README.md"]
    assert hub_emulator.commit_count(REPO) == 2
    # An old commit still serves its tree.
    old = hf_hub_download(REPO, "queue/a.json", repo_type="dataset", revision=commit.oid)
    assert json.loads(Path(old).read_text()) == {"n": 1}
    snapshot = snapshot_download(REPO, repo_type="dataset", revision=commit.oid, local_dir=tmp_path / "snap")
    assert (Path(snapshot) / "runs/r1/spec.json").read_text() == "{}"
    commits = api.list_repo_commits(REPO, repo_type="dataset")
    assert [c.title for c in commits] == ["second", "first", "initial commit"]


def test_stale_parent_commit_is_refused_with_412(hub_emulator: HubEmulator) -> None:
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset", private=True)
    parent = api.dataset_info(REPO).sha
    assert parent is not None
    api.create_commit(REPO, repo_type="dataset", operations=[add("q/1", "a")], commit_message="m", parent_commit=parent)
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(
            REPO, repo_type="dataset", operations=[add("q/2", "b")], commit_message="m", parent_commit=parent
        )
    assert status_of(exc) == 412
    assert "q/2" not in hub_emulator.files(REPO)
    assert hub_emulator.commit_count(REPO) == 1


def test_unchanged_files_make_no_commit(hub_emulator: HubEmulator) -> None:
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    first = api.create_commit(REPO, repo_type="dataset", operations=[add("x", "same")], commit_message="m")
    again = api.create_commit(REPO, repo_type="dataset", operations=[add("x", "same")], commit_message="m")
    assert again.oid == first.oid and hub_emulator.commit_count(REPO) == 1


def test_token_rules(hub_emulator: HubEmulator) -> None:
    writer = HfApi(token=hub_emulator.write_token)
    reader = HfApi(token=hub_emulator.read_token)
    writer.create_repo(REPO, repo_type="dataset", private=True)
    writer.create_repo("crisis-org/board-results", repo_type="dataset", private=False)

    assert reader.dataset_info(REPO).private is True  # the owner's read token sees it
    with pytest.raises(HfHubHTTPError) as exc:
        reader.create_commit(REPO, repo_type="dataset", operations=[add("x", "y")], commit_message="m")
    assert status_of(exc) == 403
    with pytest.raises(HfHubHTTPError) as exc:
        reader.create_repo("crisis-org/another", repo_type="dataset")
    assert status_of(exc) == 403

    for nobody in (HfApi(token=False), HfApi(token=hub_emulator.other_token)):
        with pytest.raises(RepositoryNotFoundError):
            nobody.dataset_info(REPO)
        with pytest.raises(RepositoryNotFoundError):
            nobody.list_repo_files(REPO, repo_type="dataset")
        assert nobody.list_repo_files("crisis-org/board-results", repo_type="dataset") == [".gitattributes"]
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(token=hub_emulator.other_token).create_commit(
            "crisis-org/board-results", repo_type="dataset", operations=[add("x", "y")], commit_message="m"
        )
    assert status_of(exc) == 403
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(token="hf_not_a_token").dataset_info("crisis-org/board-results")
    assert status_of(exc) == 401
    assert reader.whoami()["auth"]["accessToken"]["role"] == "read"


def test_visibility_and_existing_repos(hub_emulator: HubEmulator) -> None:
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset", private=False)
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_repo(REPO, repo_type="dataset")
    assert status_of(exc) == 409
    api.create_repo(REPO, repo_type="dataset", exist_ok=True)
    api.update_repo_settings(REPO, repo_type="dataset", private=True)
    assert api.dataset_info(REPO).private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).dataset_info(REPO)


def test_errors_name_what_is_missing(hub_emulator: HubEmulator) -> None:
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "missing.json", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(REPO, revision="f" * 40)
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("crisis-org/nothing-here")
    with pytest.raises(ValueError, match="Invalid metadata"):
        api.create_commit(
            REPO, repo_type="dataset", operations=[add("README.md", "---\n: [\n---\n")], commit_message="m"
        )


def test_tree_pagination_and_paths_info(hub_emulator: HubEmulator) -> None:
    hub_emulator.create_repo(REPO, "dataset", private=True)
    hub_emulator.add_files(REPO, {f"requests/r{i:02d}.json": "{}" for i in range(7)} | {"a/b/c.txt": "x"})
    hub_emulator.tree_page_size = 3
    api = HfApi()
    files = api.list_repo_files(REPO, repo_type="dataset")
    assert len(files) == 9 and "a/b/c.txt" in files
    assert sum(1 for m, p, _ in hub_emulator.requests if m == "GET" and "/tree/" in p) >= 4
    top = {e.path for e in api.list_repo_tree(REPO, repo_type="dataset")}
    assert top == {".gitattributes", "requests", "a"}
    info = api.get_paths_info(REPO, ["a", "a/b/c.txt", "nope"], repo_type="dataset")
    assert [(type(e).__name__, e.path) for e in info] == [("RepoFolder", "a"), ("RepoFile", "a/b/c.txt")]


def test_faults(hub_emulator: HubEmulator) -> None:
    api = HfApi()
    api.create_repo(REPO, repo_type="dataset")
    hub_emulator.fail_next(1, path_contains="/commit/")
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(REPO, repo_type="dataset", operations=[add("x", "1")], commit_message="m")
    assert status_of(exc) == 500
    assert hub_emulator.commit_count(REPO) == 0

    hub_emulator.down()
    with pytest.raises(Exception) as down:
        HfApi().dataset_info(REPO)
    assert not isinstance(down.value, HfHubHTTPError)  # a transport error, not an answer
    hub_emulator.up()
    assert HfApi().dataset_info(REPO).id == REPO

    hub_emulator.slow(0.2)
    api.create_commit(REPO, repo_type="dataset", operations=[add("x", "2")], commit_message="m")
    assert hub_emulator.commit_count(REPO) == 1


def test_gated_and_model_info(hub_emulator: HubEmulator) -> None:
    hub_emulator.seed_model("other-org/gated", gated="manual", params=7_000_000_000)
    api = HfApi()
    info = api.model_info("other-org/gated")
    assert info.gated == "manual" and info.card_data is not None and info.card_data.license == "apache-2.0"
    assert info.safetensors is not None and info.safetensors.total == 7_000_000_000
    with pytest.raises(GatedRepoError):
        api.auth_check("other-org/gated")
    with pytest.raises(GatedRepoError):
        hf_hub_download("other-org/gated", "config.json")
    hub_emulator.grant("other-org/gated", hub_emulator.user)
    api.auth_check("other-org/gated")
    meta = api.get_safetensors_metadata("other-org/gated")
    assert sum(meta.parameter_count.values()) == 7_000_000_000


def test_jobs(hub_emulator: HubEmulator) -> None:
    api = HfApi()
    org = hub_emulator.org
    job = api.run_job(
        image="ghcr.io/x/worker:1",
        command=["python", "-m", "evaluator", "worker"],
        secrets={"HF_TOKEN": "secret-value"},
        flavor="a10g-small",
        namespace=org,
    )
    assert job.status.stage == "RUNNING" and job.owner.name == org
    assert job.secrets == {"HF_TOKEN": None}  # names only, as the API shows them
    assert hub_emulator.jobs[job.id]["spec"]["secrets"] == {"HF_TOKEN": "secret-value"}
    assert [j.id for j in api.list_jobs(namespace=org)] == [job.id]
    api.cancel_job(job_id=job.id, namespace=org)
    assert api.inspect_job(job_id=job.id, namespace=org).status.stage == "CANCELED"

    scheduled = api.create_scheduled_job(
        image="ghcr.io/x/worker:1", command=["worker"], schedule="@hourly", flavor="l4x1", namespace=org
    )
    assert [s.id for s in api.list_scheduled_jobs(namespace=org)] == [scheduled.id]
    fired = trigger(hub_emulator, scheduled.id)
    assert api.inspect_job(job_id=fired["id"], namespace=org).command == ["worker"]
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_scheduled_job(image="i", command=["c"], schedule="whenever", namespace=org)
    assert status_of(exc) == 400
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(token=hub_emulator.read_token).run_job(image="i", command=["c"], namespace=org)
    assert status_of(exc) == 403
    api.delete_scheduled_job(scheduled_job_id=scheduled.id, namespace=org)
    assert api.list_scheduled_jobs(namespace=org) == []


def test_a_subprocess_reaches_it_through_the_environment(hub_emulator: HubEmulator) -> None:
    hub_emulator.create_repo(REPO, "dataset", private=True)
    code = (
        "from huggingface_hub import HfApi, CommitOperationAdd as A;"
        f"HfApi().create_commit('{REPO}', repo_type='dataset', operations=[A('from-child', b'hi')], commit_message='m')"
    )
    env = os.environ | hub_emulator.env() | {"PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert hub_emulator.files(REPO)["from-child"] == b"hi"


def test_standalone_prints_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.hub_emulator", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert HfApi(endpoint=line["endpoint"], token=line["write_token"]).whoami()["name"] == line["user"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
