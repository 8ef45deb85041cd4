"""Issue 17.10: the worker reports what happened even when the Hub stumbles.

- A 503 on the commit that marks a request FINISHED is retried, not left RUNNING until its
  lease runs out (and the run re-done by whoever claims it next).
- `worker --until-idle` that gave up after errors exits non-zero.
- After a failed write, the pause on further writes names the repo that failed, and holds
  back only that repo's writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evaluator.catalog import PUBLIC_SAMPLE
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, RunOutcome
from evaluator.storage import DataDir, StoreUnavailable
from evaluator.worker import Worker, WorkerConfig
from submissions import Queue, SetRef, enqueue
from submissions.records import Status
from submissions.store import HubRequestStore
from tests.support.hub_store import HubSite, hub_site

STORE = "hub:crisis-org/report"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def _enqueue(queue: Queue) -> str:
    target = SetRef.of(load_set(PUBLIC_SAMPLE))
    return enqueue(queue, spec="baseline:refusal", submitter="boss", target=target, maintainer=True).id


def test_a_503_on_the_finished_commit_is_retried(site: HubSite) -> None:
    store = site.open("worker")
    store.write_pause_s = 0.2
    queue = Queue(HubRequestStore(store))
    rid = _enqueue(queue)

    def evaluate(config: RunConfig, data: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        # The run is done; the next commit to the requests repo is the FINISHED one.
        site.emulator.fail_next(1, status=503, path_contains="report-requests/commit")
        return RunOutcome("complete", "run-503", [])

    worker = Worker(WorkerConfig(name="w-503"), evaluate=evaluate, queue=queue, store=store)
    assert worker.tick() == "finished"
    reader = Queue(HubRequestStore(site.open("reader")))
    assert reader.get(rid).status == Status.FINISHED


def test_until_idle_that_gave_up_after_errors_exits_non_zero(site: HubSite) -> None:
    _enqueue(Queue(HubRequestStore(site.open("setup"))))
    site.emulator.fail_next(100, status=503, path_contains="/commit/")  # every claim fails
    env = {**os.environ, **site.env("cli-worker"), "PYTHONPATH": str(ROOT), "CRISIS_WORKER_NAME": "w-cli"}
    out = subprocess.run(
        [sys.executable, "-m", "evaluator", "worker", "--store", STORE, "--until-idle", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "error" in out.stdout, out.stdout + out.stderr
    assert out.returncode != 0, out.stdout + out.stderr


def test_a_write_pause_names_the_repo_that_failed_and_holds_only_that_one(site: HubSite) -> None:
    store = site.open("writer")
    site.emulator.fail_next(1, status=503, path_contains="report-results/commit")
    with pytest.raises(StoreUnavailable, match="report-results"):
        store.commit_files({"results/a.json": b"{}"}, message="a")
    # The requests repo did not fail: its commit goes through.
    store.commit_files({"requests/probe.json": b"{}"}, message="probe")
    # Within the pause, the results repo's writes fail at once, naming the results repo.
    with pytest.raises(StoreUnavailable) as paused:
        store.commit_files({"results/b.json": b"{}"}, message="b")
    assert "report-results" in str(paused.value) and "report-requests" not in str(paused.value)
