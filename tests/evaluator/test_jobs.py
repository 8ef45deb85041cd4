"""`evaluator jobs`: GPU workers as Hugging Face Jobs, against the Hub emulator's jobs endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.cli import main
from evaluator.jobs import FLAVORS, Flavor, JobsError, flavor_for, plan
from evaluator.placement import GIB, Cluster, PlacementError, gpus_for
from tests.support.hub_emulator import HubEmulator, trigger

ROOT = Path(__file__).resolve().parents[2]
STORE = "hub:crisis-org/board"
IMAGE = "ghcr.io/crisis-org/crisis-worker:1.0"


@pytest.fixture
def hub(hub_emulator: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> HubEmulator:
    monkeypatch.setenv("CRISIS_WORKER_IMAGE", IMAGE)
    monkeypatch.setenv("CRISIS_JUDGE_API_KEY_ENV", "JUDGE_KEY")
    monkeypatch.setenv("JUDGE_KEY", "judge-secret-value")
    monkeypatch.setenv("CRISIS_JUDGES", "openai:judge-model")
    monkeypatch.delenv("CRISIS_STORE", raising=False)
    return hub_emulator


def test_flavor_follows_the_placement_rule() -> None:
    assert flavor_for(1_500_000_000).name == "l4x1"
    assert flavor_for(7_000_000_000).name == "l4x1"  # 16-bit 7B with headroom fits one 24 GB GPU
    assert flavor_for(24_000_000_000).name == "a100-large"
    assert flavor_for(30_000_000_000).name == "l4x4"  # 73 GiB: just over one A100, four L4s are cheaper
    assert flavor_for(70_000_000_000).name == "l40sx4"
    assert flavor_for(7_000_000_000, "float32").name == "l40sx1"
    with pytest.raises(JobsError, match="no single"):
        flavor_for(2_000_000_000_000)
    # Whatever is chosen holds the model by the worker's own rule, and no cheaper flavor does.
    for params in (1e9, 8e9, 14e9, 32e9, 72e9, 100e9):
        chosen = flavor_for(int(params))
        assert fits(int(params), chosen)
        assert not any(fits(int(params), f) for f in FLAVORS if f.usd_per_hour < chosen.usd_per_hour)


def fits(params: int, flavor: Flavor) -> bool:
    try:
        placed = gpus_for(params, "auto", Cluster(flavor.gpus, gpu_memory=flavor.gpu_memory_gib * GIB))
    except PlacementError:
        return False
    return placed.gpus <= flavor.gpus


def test_schedule_creates_a_scheduled_job_with_secrets_not_env(
    hub: HubEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "schedule", "--store", STORE, "--params", "7B"]) == 0
    assert "scheduled" in capsys.readouterr().out
    (item,) = hub.scheduled_jobs.values()
    spec = item["jobSpec"]
    assert item["schedule"] == "@hourly" and item["namespace"] == "crisis-org"
    assert spec["dockerImage"] == IMAGE and spec["flavor"] == "l4x1"
    assert spec["command"] == ["python", "-m", "evaluator", "worker", "--store", STORE, "--until-idle"]
    assert spec["secrets"] == {"HF_TOKEN": hub.write_token, "JUDGE_KEY": "judge-secret-value"}
    assert spec["environment"]["CRISIS_JUDGES"] == "openai:judge-model"
    assert spec["environment"]["CRISIS_JUDGE_API_KEY_ENV"] == "JUDGE_KEY"
    leaked = " ".join(spec["command"]) + repr(spec["environment"])
    assert hub.write_token not in leaked and "judge-secret-value" not in leaked

    # When the schedule fires, the job is the worker; `jobs list` shows both, `jobs cancel` ends them.
    fired = trigger(hub, item["id"])
    assert main(["jobs", "list", "--store", STORE]) == 0
    out = capsys.readouterr().out
    assert item["id"] in out and fired["id"] in out and "RUNNING" in out
    assert main(["jobs", "cancel", "--store", STORE, fired["id"]]) == 0
    assert hub.jobs[fired["id"]]["stage"] == "CANCELED"
    assert main(["jobs", "cancel", "--store", STORE, item["id"]]) == 0
    assert hub.scheduled_jobs == {}


def test_default_flavor_holds_the_largest_accepted_model(hub: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_MAX_PARAMS", "70B")
    assert main(["jobs", "schedule", "--store", STORE, "--schedule", "*/30 * * * *"]) == 0
    (item,) = hub.scheduled_jobs.values()
    assert item["jobSpec"]["flavor"] == flavor_for(70_000_000_000).name
    assert item["schedule"] == "*/30 * * * *"


def test_run_starts_one_job(hub: HubEmulator) -> None:
    assert main(["jobs", "run", "--store", STORE, "--flavor", "a100-large", "--secret", "JUDGE_KEY"]) == 0
    (job,) = hub.jobs.values()
    assert job["spec"]["flavor"] == "a100-large" and job["spec"]["command"][-1] == "--until-idle"


def test_other_stores_jobs_are_not_listed_or_cancelled(hub: HubEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "run", "--store", "hub:crisis-org/other", "--params", "1B"]) == 0
    (job_id,) = hub.jobs
    capsys.readouterr()
    assert main(["jobs", "list", "--store", STORE]) == 0
    assert "no jobs" in capsys.readouterr().out
    assert main(["jobs", "cancel", "--store", STORE, job_id]) == 2
    assert hub.jobs[job_id]["stage"] == "RUNNING"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["schedule", "--store", "local:/tmp/x"], "Hub store"),
        (["schedule", "--store", STORE, "--schedule", "every hour"], "--schedule"),
        (["schedule", "--store", STORE, "--flavor", "gpu-9000"], "--flavor"),
        (["schedule", "--store", STORE, "--secret", "NOT_SET_ANYWHERE"], "not set"),
        (["schedule", "--store", STORE, "--secret", "bad name"], "environment variable name"),
        (["schedule", "--store", STORE, "--image", "not an image!"], "--image"),
        (["cancel", "--store", STORE, "../../etc"], "not a job id"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    hub: HubEmulator, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["jobs", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert hub.scheduled_jobs == {} and hub.jobs == {}


def test_a_read_token_is_refused_clearly(
    hub: HubEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_TOKEN", hub.read_token)
    assert main(["jobs", "schedule", "--store", STORE]) == 2
    assert "HTTP 403" in capsys.readouterr().err
    assert hub.scheduled_jobs == {}


def test_no_image_is_a_clear_error(hub: HubEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISIS_WORKER_IMAGE")
    with pytest.raises(JobsError, match="--image"):
        plan(STORE, image=None, flavor=None, params=None, precision="auto")


def test_the_hub_down_is_one_line(hub: HubEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    hub.down()
    assert main(["jobs", "list", "--store", STORE]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Hugging Face Hub" in err and len(err.strip().splitlines()) == 1


def test_offline_fails_fast_in_a_subprocess(tmp_path: Path) -> None:
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "HF_TOKEN": "x",
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "evaluator", "jobs", "schedule", "--store", STORE, "--image", IMAGE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: cannot reach the Hugging Face Hub: offline mode is on (unset HF_HUB_OFFLINE to manage jobs)"
    )
