"""End to end on the Hub emulator: submissions API -> worker processes with their own mirrors ->
a leaderboard ResultStore on another mirror. Real huggingface_hub over HTTP throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from evaluator.catalog import PUBLIC_SAMPLE
from evaluator.conversation.persona import PUBLIC_PERSONAS_PATH, load_persona_set
from evaluator.items import load_set
from evaluator.storage import RunSink
from leaderboard.store import ResultStore
from submissions import Queue, Settings, Status, current_set, enqueue
from submissions.records import RequestRecord, utcnow
from tests.support.hub_store import HubSite, hub_site
from tests.support.openai_server import OpenAIServer

STORE = "hub:crisis-org/e2e"
ROOT = Path(__file__).parents[1]
WORKER = (sys.executable, "-m", "evaluator", "worker")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        yield s


def _worker(site: HubSite, name: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    worker_env = {
        **os.environ,
        **site.env(name),
        "CRISIS_WORKER_NAME": name,
        "CRISIS_LEASE_S": "30",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evaluator",
            "worker",
            "--store",
            STORE,
            "--interval",
            "0.2",
            "--quiet",
            "--bootstrap-rounds",
            "20",
            *extra,
        ],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def test_submit_then_a_worker_publishes_and_another_mirror_shows_it(site: HubSite) -> None:
    space = site.open("space")
    queue = Queue.local(space, Settings.from_env())
    record = enqueue(
        queue, spec="baseline:template", submitter="maintainer", target=current_set(space.data), maintainer=True
    )
    assert record.status == Status.PENDING

    out, _ = _finish(_worker(site, "gpu-box", "--until-idle"))
    assert "idle" in out

    reader = site.open("leaderboard", writable=False)
    store = ResultStore(reader.data, recheck_seconds=0, persist=False)
    final = Queue.local(reader, Settings.from_env()).get(record.id)
    assert final.status == Status.FINISHED and final.run_id
    rows = store.snapshot(force=True).results
    shown = rows[rows["run_id"] == final.run_id]
    assert len(shown) > 1 and set(shown["model_type"]) == {"baseline"} and "overall" in set(shown["category"])
    # The result file is named after the run and lives in the public results repo;
    # the run directory is in the private repo only.
    results = reader.remote_files("results")
    assert f"results/{final.run_id}.parquet" in results
    assert any(p.startswith(f"runs/{final.run_id}/") for p in reader.remote_files("private"))
    assert not any(p.startswith("runs/") for p in results)
    # The Space's own mirror learns of it on its next refresh.
    space.refresh()
    assert (space.data.results / f"{final.run_id}.parquet").exists()


def _bare_record(n: int) -> RequestRecord:
    now = utcnow() + timedelta(milliseconds=n)
    spec = "baseline:refusal" if n % 2 else "baseline:template"
    return RequestRecord(
        id=f"race-{n:03d}", model=spec, model_type="baseline", spec=spec, submitter="bench",
        submitted_at=now, updated_at=now,
    ).moved(Status.PENDING, now, note="submitted")  # fmt: skip


def test_four_workers_race_forty_requests_each_evaluated_once(site: HubSite) -> None:
    seed = site.open("seed")
    queue = Queue.local(seed, Settings.from_env())
    for n in range(40):
        queue.store.create(_bare_record(n))
    workers = [_worker(site, f"racer-{i}", "--until-idle") for i in range(4)]
    logs = [_finish(w, timeout=500) for w in workers]

    check = site.open("check", writable=False)
    records = Queue.local(check, Settings.from_env()).records()
    assert len(records) == 40
    assert all(r.status == Status.FINISHED for r in records), [
        (r.id, r.status, r.reason) for r in records if r.status != Status.FINISHED
    ] + [err[-1500:] for _, err in logs]
    for r in records:
        claims = [h for h in r.history if h.status == Status.RUNNING]
        assert len(claims) == 1 and r.attempts == 1, r.history
        assert (claims[0].note or "").startswith("claimed by racer-")
    by_worker = {f"racer-{i}": sum(1 for r in records if f"racer-{i} " in (r.history[-2].note or "")) for i in range(4)}
    assert sum(by_worker.values()) == 40
    assert sum(1 for n in by_worker.values() if n) >= 2, by_worker  # the work was actually shared
    del logs


def test_a_killed_worker_is_resumed_from_finished_items_on_a_fresh_mirror(site: HubSite, tmp_path: Path) -> None:
    with OpenAIServer("tests.support.responders:model_and_judge", models=("test-model", "judge-model")) as server:
        # Judging is slow, so the kill lands after the replies were pushed at the end of generation.
        server.slow(0.5, when=lambda r: r.model.startswith("judge"))
        seed = site.open("seed")
        queue = Queue.local(seed, Settings.from_env())
        record = enqueue(
            queue, spec="openai:test-model", base_url=server.url, submitter="maintainer",
            target=current_set(seed.data), maintainer=True,
        )  # fmt: skip
        env = {
            "CRISIS_JUDGES": "openai:judge-model",
            "CRISIS_JUDGE_BASE_URL": server.url,
            "OPENAI_API_KEY": "test-key",
            "CRISIS_LEASE_S": "6",
        }
        first = _worker(site, "doomed", "--once", "--concurrency", "2", env=env)
        deadline = time.monotonic() + 180
        watcher = site.open("watcher", writable=False)
        replies = None
        while time.monotonic() < deadline and first.poll() is None:
            replies = next((p for p in watcher.remote_files("private") if p.endswith("/replies.jsonl")), None)
            if replies:
                break
            time.sleep(0.3)
        assert replies, "the first worker never pushed its replies"
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        generated = sum(1 for r in server.requests if r.model == "test-model")
        server.clear_faults()
        # --until-idle stops when nothing is claimable; the doomed worker's lease (6 s) must run out
        # first, as it would before the next scheduled job.
        watcher.refresh()
        expires = Queue.local(watcher, Settings.from_env()).get(record.id).lease_expires_at
        if expires is not None:
            time.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.5)

        out, _ = _finish(_worker(site, "rescuer", "--until-idle", env=env))
        # The worker then runs the conversation track (PROTOCOL section 9), which the doomed
        # worker never reached: its model turns are new work, each made once.
        openings = {p.opening for p in load_persona_set(PUBLIC_PERSONAS_PATH).personas}
        calls = [r for r in server.requests if r.model == "test-model"]
        talk = [r for r in calls[generated:] if r.messages[0]["content"] in openings]
        assert len(calls) - len(talk) == generated  # nothing regenerated
        assert talk and len({json.dumps(r.messages) for r in talk}) == len(talk)

    check = site.open("check2", writable=False)
    final = Queue.local(check, Settings.from_env()).get(record.id)
    assert final.status == Status.FINISHED and final.run_id, (final.status, final.reason)
    assert final.attempts == 2
    published = check.remote_files("results")
    transcripts = [p for p in published if p.startswith("public/conversations/")]
    assert len(transcripts) == 1
    talk_run = transcripts[0].removeprefix("public/conversations/").removesuffix(".jsonl")
    results = [p for p in published if p.startswith("results/")]
    assert sorted(results) == sorted([f"results/{final.run_id}.parquet", f"results/{talk_run}.parquet"])
    rows = ResultStore(check.data, persist=False).results(force=True)
    assert set(rows["run_id"]) == {final.run_id, talk_run}
    assert set(rows.loc[rows["run_id"] == talk_run, "track"]) == {"conversation"}
    assert len(rows) == len(rows.drop_duplicates(subset=["run_id", "category"]))
    # The run directory the rescuer pushed holds the doomed worker's replies, once each.
    check.pull(f"runs/{final.run_id}/")
    lines = (check.data.run_dir(final.run_id) / "replies.jsonl").read_text().splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    items = len(load_set(PUBLIC_SAMPLE).items)
    assert generated == 2 * items  # a reply and a detection per item, all from the doomed worker
    assert kinds.count("reply") == kinds.count("detect") == items
    del out


def test_the_hub_failing_mid_run_loses_nothing_and_says_so(site: HubSite, caplog: pytest.LogCaptureFixture) -> None:
    from evaluator.worker import Worker, WorkerConfig

    space = site.open("space", writable=False)
    queue = Queue.local(site.open("submit"), Settings.from_env())
    record = enqueue(
        queue, spec="baseline:refusal", submitter="maintainer", target=current_set(space.data), maintainer=True
    )
    space.refresh()  # the Space's last good mirror holds the request
    config = WorkerConfig(store=STORE, name="w", lease_s=1.0, heartbeat_s=60.0, bootstrap_rounds=20)
    worker = Worker(config, store=site.open("w"))
    worker.store.write_pause_s = 1.0  # type: ignore[attr-defined]
    sinks = worker.run_sink

    def hub_breaks_after_generation() -> RunSink:
        sink = sinks()
        checkpoint = sink.checkpoint

        def breaking(stage: str) -> None:
            if stage == "generated":
                site.failing(500)
            checkpoint(stage)

        sink.checkpoint = breaking  # type: ignore[method-assign]
        return sink

    worker.run_sink = hub_breaks_after_generation  # type: ignore[method-assign]
    with caplog.at_level("WARNING"):
        assert worker.tick() == "unpublished"
    assert "HTTP 500" in caplog.text and "not published" in caplog.text
    run_id = next(p.name for p in (worker.data.root / "runs").iterdir())
    assert (worker.data.run_dir(run_id) / "judgements.jsonl").stat().st_size > 0  # kept locally
    assert (worker.data.results / f"{run_id}.parquet").exists()  # staged in the mirror, not published
    space.refresh()
    assert "not answering" in (space.status_line or "") and "HTTP 500" in (space.status_line or "")
    assert (space.data.requests / f"{record.id}.json").exists()  # the last mirror is still served

    site.recovered()
    worker.run_sink = sinks  # type: ignore[method-assign]
    time.sleep(1.2)  # the lease runs out; the next tick reclaims it and finishes from what is on disk
    assert worker.tick() == "finished"
    space.refresh()
    assert space.status_line is None
    final = Queue.local(space, Settings.from_env()).get(record.id)
    assert final.status == Status.FINISHED and final.run_id == run_id and final.attempts == 2
    assert f"results/{run_id}.parquet" in space.remote_files("results")


def test_a_slow_hub_loses_nothing_and_page_reads_never_wait_on_it(site: HubSite) -> None:
    from evaluator.worker import Worker, WorkerConfig

    space = site.open("space", writable=False)
    queue = Queue.local(site.open("submit"), Settings.from_env())
    record = enqueue(
        queue, spec="baseline:template", submitter="maintainer", target=current_set(space.data), maintainer=True
    )
    space.refresh()
    page = ResultStore(space.data, recheck_seconds=0, persist=False)
    site.emulator.slow(0.25)  # every Hub call now takes a quarter of a second
    try:
        worker = Worker(WorkerConfig(store=STORE, name="w", bootstrap_rounds=20), store=site.open("w"))
        assert worker.tick() == "finished"
        # A page load reads the Space's mirror only: not one request reaches the Hub.
        seen = len(site.emulator.requests)
        page.snapshot(force=True)
        Queue.local(space, Settings.from_env()).get(record.id)
        assert len(site.emulator.requests) == seen
    finally:
        site.emulator.slow(0)
    space.refresh()
    final = Queue.local(space, Settings.from_env()).get(record.id)
    assert final.status == Status.FINISHED and final.run_id
    rows = ResultStore(space.data, recheck_seconds=0, persist=False).snapshot(force=True).results
    assert len(rows[rows["run_id"] == final.run_id]) > 1
