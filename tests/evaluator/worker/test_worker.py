"""The scheduled worker: one request end to end, failures, leases, SIGTERM, crash and resume."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evaluator.backends import BackendError, SpecError
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, RunOutcome
from evaluator.storage import DataDir
from evaluator.worker import (
    JOB_ID,
    Worker,
    WorkerConfig,
    api_key_env_for,
    backend_for,
    start_scheduler,
    tensor_parallel_for,
)
from submissions.intake import enqueue
from submissions.queue import Queue
from submissions.records import RequestRecord, Status
from submissions.store import LocalRequestStore
from submissions.target import SetRef

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
TARGET = SetRef.of(load_set(SAMPLE))


def queue_for(data: DataDir, **kwargs: Any) -> Queue:
    return Queue(LocalRequestStore(data), **kwargs)


def add(queue: Queue, spec: str = "baseline:refusal", base_url: str | None = None) -> RequestRecord:
    return enqueue(queue, spec=spec, base_url=base_url, submitter="boss", target=TARGET, maintainer=True)


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    out.update({"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **extra})
    return out


def outcome(status: str = "complete", **kw: Any) -> RunOutcome:
    return RunOutcome(status=status, run_id=kw.pop("run_id", "run-1"), rows=[], **kw)


def scripted(
    data: DataDir, evaluate: Callable[[RunConfig, DataDir, Callable[[], bool]], RunOutcome], **config: Any
) -> Worker:
    return Worker(WorkerConfig(data=str(data.root), name="w-test", **config), evaluate=evaluate)


# ------------------------------------------------------------------- end to end, --once


def test_once_processes_a_baseline_end_to_end(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    record = add(queue_for(data))
    out = subprocess.run(
        [sys.executable, "-m", "evaluator", "worker", "--data", str(data.root), "--once", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "finished" in out.stdout
    done = queue_for(data).get(record.id)
    assert done.status == Status.FINISHED and done.attempts == 1 and done.worker is None
    assert done.run_id and done.set_name == "public-sample"
    rows = pd.read_parquet(data.result_file(done.run_id))
    assert set(rows["model"]) == {"baseline:refusal"}
    assert all(judge.startswith("heuristic") for judge in rows["judge"])
    assert "overall" in set(rows["category"])
    # Nothing about the run leaked into the public request file.
    public = (data.requests / f"{record.id}.json").read_text()
    assert "turns" not in public and "I'm sorry" not in public

    again = subprocess.run(
        [sys.executable, "-m", "evaluator", "worker", "--data", str(data.root), "--once", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=120,
    )
    assert again.returncode == 0 and "idle" in again.stdout


def test_bad_set_is_bad_input(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "evaluator", "worker", "--data", str(tmp_path), "--once", "--set", "nope"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=60,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: nope")


# ------------------------------------------------------------- outcomes, in process


def test_complete_outcome_finishes_with_the_run_id(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))
    seen: list[RunConfig] = []

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        seen.append(config)
        return outcome(run_id="abc123")

    assert scripted(data, evaluate).tick() == "finished"
    assert seen[0].model == "baseline:refusal" and seen[0].judges == ("heuristic",)
    done = queue_for(data).get(record.id)
    assert done.status == Status.FINISHED and done.run_id == "abc123" and done.set_version == TARGET.version


def test_a_request_runs_on_the_set_version_it_targets(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    version_dir = data.sets / "heldout" / "v0002"
    version_dir.mkdir(parents=True)
    (version_dir / "items.jsonl").write_text("\n".join(SAMPLE.read_text().splitlines()[:5]) + "\n")
    queue = queue_for(data)
    targeted = enqueue(
        queue, spec="baseline:refusal", submitter="boss", target=SetRef("heldout", "v0002"), maintainer=True
    )
    missing = enqueue(
        queue, spec="baseline:template", submitter="boss", target=SetRef("heldout", "v0009"), maintainer=True
    )
    seen: dict[str, tuple[str, str, int]] = {}

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        s = config.item_set
        seen[config.model] = (s.name, s.version, len(s.items))
        return outcome(run_id=config.model.replace(":", "-"))

    worker = scripted(data, evaluate)
    assert worker.tick() == worker.tick() == "finished"
    assert seen["baseline:refusal"] == ("heldout", "v0002", 5)
    assert seen["baseline:template"][:2] == (TARGET.name, TARGET.version)  # v0009 is not here: the current set
    assert queue.get(targeted.id).set_version == "v0002"
    assert (queue.get(missing.id).set_name, queue.get(missing.id).set_version) == (TARGET.name, TARGET.version)


def test_incomplete_runs_are_retried_then_fail_with_the_reason(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))
    reason = "3 generation and 0 judge calls failed (APITimeout); run the same command again to retry them"
    worker = scripted(data, lambda c, d, s: outcome("incomplete", errors=3, reason=reason), max_attempts=2)
    assert worker.tick() == "pending"
    assert (
        queue_for(data).get(record.id).reason
        == "the run was incomplete: 3 generation and 0 judge calls failed (APITimeout)"
    )
    assert worker.tick() == "failed"
    failed = queue_for(data).get(record.id)
    assert failed.status == Status.FAILED and failed.error_class == "IncompleteRun" and failed.attempts == 2


def test_a_backend_error_becomes_the_reason(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        raise BackendError("org/model has no chat template; the leaderboard needs one")

    worker = scripted(data, evaluate, max_attempts=1)
    assert worker.tick() == "failed"
    failed = queue_for(data).get(record.id)
    assert failed.reason == "org/model has no chat template; the leaderboard needs one"
    assert failed.error_class == "BackendError"


def test_a_spec_error_fails_at_once(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        raise SpecError("unknown model spec")

    assert scripted(data, evaluate).tick() == "failed"
    assert queue_for(data).get(record.id).attempts == 1


def test_an_unexpected_error_never_publishes_its_message(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        raise KeyError("I want to end it all tonight")  # e.g. item text caught in an exception

    worker = scripted(data, evaluate, max_attempts=1)
    assert worker.tick() == "failed"
    failed = queue_for(data).get(record.id)
    assert "end it all" not in (data.requests / f"{record.id}.json").read_text()
    assert failed.error_class == "KeyError" and "internal error" in (failed.reason or "")


def test_heartbeats_hold_the_lease_through_a_long_run(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))
    rival = queue_for(data)
    reclaimed: list[Any] = []

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        for _ in range(10):  # 2.5 s: two and a half lease lengths
            time.sleep(0.25)
            reclaimed.extend(rival.reclaim_expired())
        return outcome()

    # Beats ten times a lease, so a busy test machine delaying a few cannot lose it.
    assert scripted(data, evaluate, lease_s=1.0, heartbeat_s=0.1).tick() == "finished"
    assert reclaimed == []
    assert queue_for(data).get(record.id).attempts == 1


def test_cancelling_a_running_request_stops_the_run(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        queue_for(d).cancel(record.id, user="boss")
        deadline = time.monotonic() + 10
        while not stop() and time.monotonic() < deadline:  # the next heartbeat notices
            time.sleep(0.05)
        assert stop()
        return outcome("stopped")

    assert scripted(data, evaluate, lease_s=0.3).tick() == "lost"
    assert queue_for(data).get(record.id).status == Status.CANCELLED


def test_shutdown_releases_the_lease_when_the_run_does_not_stop(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))
    started, unblock = threading.Event(), threading.Event()

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        started.set()
        unblock.wait(10)  # a backend deep in a batch, not looking at should_stop
        return outcome()

    worker = scripted(data, evaluate)
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(worker.tick()))
    thread.start()
    assert started.wait(10)
    assert worker.shutdown(grace_s=0.2) is False
    released = queue_for(data).get(record.id)
    assert released.status == Status.PENDING and released.attempts == 0 and released.worker is None
    unblock.set()
    thread.join(10)
    assert results == ["released"]  # the late outcome does not overwrite the release
    assert queue_for(data).get(record.id).status == Status.PENDING
    assert worker.tick() == "stopping"


def test_shutdown_lets_a_run_that_stops_release_itself(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    record = add(queue_for(data))
    started = threading.Event()

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        started.set()
        while not stop():
            time.sleep(0.02)
        return outcome("stopped")

    worker = scripted(data, evaluate)
    thread = threading.Thread(target=worker.tick)
    thread.start()
    assert started.wait(10)
    assert worker.shutdown(grace_s=5) is True
    thread.join(10)
    record = queue_for(data).get(record.id)
    assert record.status == Status.PENDING and record.attempts == 0


def test_the_scheduler_never_overlaps_ticks(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    queue = queue_for(data)
    add(queue)
    add(queue, "baseline:template")
    running, overlap = [0], [0]
    lock = threading.Lock()

    def evaluate(config: RunConfig, d: DataDir, stop: Callable[[], bool]) -> RunOutcome:
        with lock:
            running[0] += 1
            overlap[0] = max(overlap[0], running[0])
        time.sleep(0.5)  # five intervals
        with lock:
            running[0] -= 1
        return outcome(run_id=config.model.replace(":", "-"))

    worker = scripted(data, evaluate)
    scheduler = start_scheduler(worker, interval_s=0.1)
    try:
        scheduled = scheduler.get_job(JOB_ID)
        assert scheduled.max_instances == 1 and scheduled.coalesce is True
        deadline = time.monotonic() + 20
        while any(r.status != Status.FINISHED for r in queue.records()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert all(r.status == Status.FINISHED for r in queue.records())
    assert overlap[0] == 1


# ----------------------------------------------------------------------- backend choice


def _record(**changes: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "id": "r1",
        "model": "org/model",
        "model_type": "open-weight",
        "spec": "hf:org/model@" + "a" * 40,
        "sha": "a" * 40,
        "params": 7_000_000_000,
        "submitter": "alice",
        "submitted_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    base.update(changes)
    return RequestRecord.model_validate(base)


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    config = WorkerConfig()
    monkeypatch.setattr("evaluator.worker.config.gpus", lambda: (0, 0))
    spec, options = backend_for(_record(), config)
    assert spec == "hf:org/model@" + "a" * 40 and options.tensor_parallel_size == 1

    monkeypatch.setattr("evaluator.worker.config.gpus", lambda: (4, 24 * 2**30))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object() if name == "vllm" else None)
    spec, options = backend_for(_record(params=30_000_000_000), config)
    assert spec.startswith("vllm:org/model@") and options.tensor_parallel_size == 4

    spec, _ = backend_for(_record(), WorkerConfig(open_weight_backend="hf"))
    assert spec.startswith("hf:")

    api = _record(
        model_type="api", model="gpt-x", spec="openai:gpt-x", sha=None, base_url="https://api.together.xyz/v1"
    )
    monkeypatch.setenv("CRISIS_API_KEYS", "api.together.xyz=TOGETHER_API_KEY")
    spec, options = backend_for(api, config)
    assert spec == "openai:gpt-x" and options.base_url == "https://api.together.xyz/v1"
    assert options.api_key_env == "TOGETHER_API_KEY"

    spec, options = backend_for(_record(model_type="baseline", spec="baseline:refusal", sha=None), config)
    assert spec == "baseline:refusal" and options.base_url is None

    with pytest.raises(SpecError):
        backend_for(_record(sha=None), config)


def test_api_key_env_and_tensor_parallel() -> None:
    # A key only for the host it is configured for (issue 17.4); never the judge's.
    assert api_key_env_for("https://api.openai.com/v1", {}) == ""
    assert api_key_env_for("https://x.ai/v1", {"CRISIS_API_KEY_ENV": "XAI_KEY"}) == ""
    assert api_key_env_for("https://X.ai/v1", {"CRISIS_API_KEYS": "x.ai=XAI_KEY"}) == "XAI_KEY"
    assert api_key_env_for("https://x.ai/v1", {"CRISIS_API_KEYS": "x.ai=OPENAI_API_KEY"}) == ""
    assert tensor_parallel_for(7_000_000_000, 8, 80 * 2**30) == 1
    assert tensor_parallel_for(70_000_000_000, 8, 80 * 2**30) == 4
    assert tensor_parallel_for(70_000_000_000, 2, 80 * 2**30) == 2
    assert tensor_parallel_for(None, 8, 80 * 2**30) == 1


# ------------------------------------------------- real processes: SIGTERM, SIGKILL


@pytest.fixture
def slow_server() -> Iterator[str]:
    """A local OpenAI-compatible server in its own process, 0.2 s per reply."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_server", "--latency", "0.2", "--responder", "echo"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env(),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(lines[:12]) + "\n", encoding="utf-8")
    return path


def _worker_cmd(data: DataDir, small_set: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "evaluator", "worker", "--data", str(data.root), "--set", str(small_set),
        "--concurrency", "2", "--bootstrap-rounds", "200", "--quiet", *extra,
    ]  # fmt: skip


def _replies(data: DataDir) -> list[dict[str, Any]]:
    out = []
    for path in data.runs.glob("*/replies.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line from the killed worker
                out.append(json.loads(line))
    return out


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _rows(data: DataDir, run_id: str) -> pd.DataFrame:
    rows = pd.read_parquet(data.result_file(run_id)).drop(columns=["evaluated_at"])
    return rows.sort_values("category").reset_index(drop=True)


@pytest.mark.slow
def test_sigterm_releases_the_lease_and_keeps_finished_items(tmp_path: Path, slow_server: str, small_set: Path) -> None:
    data = DataDir(tmp_path / "var")
    record = add(queue_for(data), "openai:test-model", slow_server)
    proc = subprocess.Popen(
        _worker_cmd(data, small_set, "--interval", "0.5", "--grace", "0.5"), cwd=ROOT, env=env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: len(_replies(data)) >= 3)
        assert queue_for(data).get(record.id).status == Status.RUNNING
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    released = queue_for(data).get(record.id)
    assert released.status == Status.PENDING and released.attempts == 0 and released.worker is None
    assert released.history[-1].note == "the worker was shut down; returned to the queue"
    assert len(_replies(data)) >= 3  # finished items stay


@pytest.mark.slow
def test_crash_and_resume_gives_the_rows_of_an_unbroken_run(tmp_path: Path, slow_server: str, small_set: Path) -> None:
    # The unbroken run.
    clean = DataDir(tmp_path / "clean")
    first = add(queue_for(clean), "openai:test-model", slow_server)
    out = subprocess.run(
        _worker_cmd(clean, small_set, "--once"), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    unbroken = queue_for(clean).get(first.id)
    assert unbroken.status == Status.FINISHED and unbroken.run_id

    # The same request on another data directory; its worker is SIGKILLed mid-generation.
    data = DataDir(tmp_path / "crashed")
    record = add(queue_for(data), "openai:test-model", slow_server)
    short_lease = env(CRISIS_LEASE_S="1.5")
    proc = subprocess.Popen(_worker_cmd(data, small_set, "--once"), cwd=ROOT, env=short_lease)
    try:
        _wait_for(lambda: len(_replies(data)) >= 6)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = len(_replies(data))
    assert before < 24, "the run finished before it could be killed"
    held = queue_for(data).get(record.id)
    assert held.status == Status.RUNNING and held.attempts == 1

    # Once the dead worker's lease has expired, a new worker reclaims the request and resumes the run.
    _wait_for(lambda: queue_for(data).get(record.id).lease_expires_at < pd.Timestamp.now(tz="UTC"), timeout=10)
    out = subprocess.run(
        _worker_cmd(data, small_set, "--once"), cwd=ROOT, env=short_lease, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    resumed = queue_for(data).get(record.id)
    assert resumed.status == Status.FINISHED and resumed.attempts == 2
    assert any(h.status == Status.PENDING and "stopped responding" in (h.note or "") for h in resumed.history)
    assert resumed.run_id == unbroken.run_id

    # Items finished before the crash were not generated again.
    tasks = [(r["kind"], r["item_id"]) for r in _replies(data)]
    assert len(tasks) == len(set(tasks)) == 24

    pd.testing.assert_frame_equal(_rows(data, resumed.run_id), _rows(clean, unbroken.run_id))


def test_progress_is_published_in_the_running_record(tmp_path: Path) -> None:
    """The pipeline reports stage and counts; heartbeats carry them into the public record."""
    data = DataDir(tmp_path / "var")
    queue = queue_for(data, lease_s=30)
    record = add(queue)
    seen: list[str | None] = []
    worker = Worker(WorkerConfig(data=str(data.root), name="w-progress", heartbeat_s=0.05, bootstrap_rounds=50))
    original = worker.queue.heartbeat

    def watching(lease: Any, progress: str | None = None) -> Any:
        seen.append(progress)
        return original(lease, progress=progress)

    worker.queue.heartbeat = watching  # type: ignore[method-assign]
    reported: list[str] = []
    report = worker._report

    def recording(stage: str, done: int, total: int) -> None:
        reported.append(f"{stage} {done}/{total}")
        report(stage, done, total)

    worker._report = recording  # type: ignore[method-assign]
    slow_tick = threading.Thread(target=worker.tick)
    slow_tick.start()
    slow_tick.join(timeout=120)
    assert queue_for(data).get(record.id).status == Status.FINISHED
    total = len(load_set(SAMPLE).items)
    assert f"judging (heuristic@1) {total}/{total}" in reported
    # The conversation track comes second and reports its turns the same way.
    assert reported[-1].startswith("conversations ") and worker.progress == reported[-1]
    published = [p for p in seen if p]
    assert published
    assert all(p.split(" ")[0] in ("generating", "detection", "judging", "conversations") for p in published)


def test_heartbeat_stores_progress(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    queue = queue_for(data)
    record = add(queue)
    lease = queue.claim("w-1")
    assert lease is not None and lease.request_id == record.id
    queue.heartbeat(lease, progress="generating 3/104")
    assert queue.get(record.id).progress == "generating 3/104"
    assert '"progress": "generating 3/104"' in (data.requests / f"{record.id}.json").read_text()


def test_on_a_space_open_weight_requests_wait_for_a_gpu_worker(tmp_path: Path) -> None:
    from datetime import timedelta

    from evaluator.storage import DataDir
    from evaluator.worker import Worker, WorkerConfig
    from submissions import Queue, Settings, Status
    from submissions.records import RequestRecord, utcnow

    data = DataDir.at(tmp_path / "var")
    queue = Queue.local(data, Settings.from_env())
    now = utcnow()
    for n, (rid, model, kind, spec) in enumerate(
        [("gpu-first", "org/open-model", "open-weight", "hf:org/open-model"),
         ("cpu-second", "baseline:refusal", "baseline", "baseline:refusal")]
    ):  # fmt: skip
        at = now + timedelta(milliseconds=n)
        queue.store.create(
            RequestRecord(
                id=rid, model=model, model_type=kind, spec=spec, submitter="bench", submitted_at=at, updated_at=at
            ).moved(Status.PENDING, at, note="submitted")
        )
    config = WorkerConfig.from_env({"SPACE_ID": "org/space"}, data=str(data.root), name="space", bootstrap_rounds=20)
    assert config.open_weight is False
    worker = Worker(config)
    assert worker.tick() == "finished"  # the baseline, although the open-weight request is first in line
    assert worker.tick() == "idle"
    assert queue.get("gpu-first").status == Status.PENDING
    assert queue.get("cpu-second").status == Status.FINISHED
