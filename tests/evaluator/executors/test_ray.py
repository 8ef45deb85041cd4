"""The Ray executor on a local CPU Ray: parallel requests, a killed task resumed, same rows as local,
a task on its own node directory syncing through the Hub store, live progress.

Requests are API models served by the loopback OpenAI-compatible server (real HTTP from the
Ray task's own process) and baselines; the judge replica is a real hf: checkpoint in an actor.
The Hub is the loopback emulator (tests/support/hub_emulator.py). One executor serves the
module (its progress actor and worker processes are started once).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

from evaluator.backends import BackendOptions
from evaluator.cli import main as cli_main
from evaluator.executors import ExecutorError, make_executor
from evaluator.executors.local import LocalExecutor
from evaluator.executors.ray import TASK_NAME, RayExecutor, open_weight_on_cluster, task_options
from evaluator.items import load_set
from evaluator.pipeline import RunConfig
from evaluator.placement import Cluster, Placement
from evaluator.storage import DataDir, RunSink, Store
from evaluator.worker import Worker, WorkerConfig, WorkerPool
from submissions.config import Settings
from submissions.intake import enqueue
from submissions.queue import Queue
from submissions.records import RequestRecord, Status
from submissions.store import LocalRequestStore
from submissions.target import SetRef
from tests.support.hub_store import hub_site
from tests.support.openai_server import SAFE_REPLY, OpenAIServer, echo

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:6]
    path = tmp_path / "ray-sample.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def executor(ray_cluster: Any) -> Iterator[RayExecutor]:
    ex = RayExecutor(max_concurrent=2, poll_s=0.1)
    try:
        yield ex
    finally:
        ex.close()


def add(data: DataDir | Store, set_path: Path, spec: str, base_url: str | None = None) -> RequestRecord:
    queue = Queue(LocalRequestStore(data)) if isinstance(data, DataDir) else Queue.local(data, Settings.from_env())
    target = SetRef.of(load_set(set_path))
    return enqueue(queue, spec=spec, base_url=base_url, submitter="boss", target=target, maintainer=True)


def worker(
    data: DataDir, set_path: Path, executor: Any, name: str = "driver", store: Any = None, **config: Any
) -> Worker:
    # The conversation track is off here: these tests count single-turn calls and tasks. It runs as
    # a Ray task of its own too (tests/evaluator/executors/test_ray_conversations.py).
    settings = {"judges": ("heuristic",), "concurrency": 1, "bootstrap_rounds": 50, "lease_s": 30.0, "personas": "none"}
    settings.update(config)
    where = {"store": str(store.spec)} if store is not None else {"data": str(data.root)}
    return Worker(
        WorkerConfig(item_set=str(set_path), name=name, **where, **settings),  # type: ignore[arg-type]
        executor=executor,
        store=store,
    )


def gated(after: int) -> tuple[Any, threading.Event, threading.Event]:
    """A responder that answers calls 1..after at once and holds call after+1 until `gate` is set."""
    calls = itertools.count(1)
    gate, held = threading.Event(), threading.Event()

    def respond(model: str, messages: list[dict[str, Any]]) -> str:
        if next(calls) == after + 1:
            held.set()
            gate.wait(120)
        return SAFE_REPLY

    return respond, gate, held


def rows(data: DataDir, run_id: str) -> list[dict[str, Any]]:
    frame = pd.read_parquet(data.result_file(run_id)).drop(columns=["evaluated_at"])
    return json.loads(frame.to_json(orient="records"))


# ---------------------------------------------------------------------------- pure parts


def test_placement_becomes_vllm_and_task_resources() -> None:
    options = BackendOptions()
    spec, opts = open_weight_on_cluster("hf:org/model@abc", options, Placement(4, 4))
    assert (spec, opts.tensor_parallel_size, opts.pipeline_parallel_size) == ("vllm:org/model@abc", 4, 1)
    assert open_weight_on_cluster("hf:org/model@abc", options, Placement(0)) == ("hf:org/model@abc", options)
    assert open_weight_on_cluster("hf:/local/model.gguf", options, Placement(1))[0] == "hf:/local/model.gguf"
    spec, opts = open_weight_on_cluster("hf:org/big@abc", options, Placement(16, 8, 2))
    assert (opts.tensor_parallel_size, opts.pipeline_parallel_size) == (8, 2)

    assert task_options(Placement(2, 2)) == {"num_cpus": 1, "num_gpus": 2}
    spanning = task_options(Placement(16, 8, 2))
    assert spanning["num_gpus"] == 0 and len(spanning["placement_bundles"]) == 16


def test_executor_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="need --executor ray"):
        make_executor("local", max_concurrent=2)
    with pytest.raises(ValueError, match="at least 1"):
        make_executor("ray", max_concurrent=0)
    assert isinstance(make_executor("local"), LocalExecutor)
    code = cli_main(["worker", "--data", str(tmp_path / "var"), "--once", "--max-concurrent", "3", "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: --max-concurrent and --ray-address need --executor ray"


def test_a_model_too_large_for_the_cluster_fails_with_a_reason(executor: RayExecutor, small_set: Path) -> None:
    record = RequestRecord.model_construct(model_type="open-weight", params=405_000_000_000, precision="bfloat16")
    config = RunConfig(model="hf:org/model", item_set=load_set(small_set))
    with pytest.raises(ExecutorError, match=r"needs about 846 GiB .* this cluster has 1"):
        executor.place(config, record, Cluster(gpus_per_node=1, nodes=1))


def test_gpus_a_vllm_judge_keeps_are_not_offered_to_a_request(executor: RayExecutor, small_set: Path) -> None:
    """A vllm: judge replica holds one GPU for good: on a one-GPU cluster a request's task asking
    for that GPU would wait forever, so the request fails at once with the reason."""
    record = RequestRecord.model_construct(model_type="open-weight", params=1_000_000_000, precision="bfloat16")
    config = RunConfig(model="hf:org/model", item_set=load_set(small_set), judges=("vllm:org/judge",))
    with pytest.raises(ExecutorError, match=r"needs 1 GPU; this cluster has 1, 1 of them held by vllm: judge replicas"):
        executor.place(config, record, Cluster(gpus_per_node=1, nodes=1))
    two = executor.place(config, record, Cluster(gpus_per_node=2, nodes=1))[1]
    assert two == Placement(1, 1)
    assert executor.place(replace(config, judges=("heuristic",)), record, Cluster(1, 1))[1] == Placement(1, 1)


# ------------------------------------------------------------------------------ on Ray


def test_a_node_spanning_model_runs_where_vllm_finds_its_placement_group(ray_cluster: Any) -> None:
    """vLLM's rule (tests/support/vllm_rules.py) on a real local Ray: from a task inside a
    placement group vLLM finds none (and would ask for every GPU again, waiting 1,800 s); from the
    host actor the executor starts for a pipeline-parallel placement it finds that group.
    The cluster has no GPUs, so the bundles hold CPUs (the executor's `device`)."""
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from tests.support.vllm_rules import engine_placement_group

    group = placement_group([{"CPU": 1}], strategy="PACK")
    in_group = PlacementGroupSchedulingStrategy(group, placement_group_capture_child_tasks=True)
    try:
        task = ray_cluster.remote(engine_placement_group).options(num_cpus=0, scheduling_strategy=in_group)
        assert ray_cluster.get(task.remote(), timeout=60) is None
    finally:
        remove_placement_group(group)

    spanning = RayExecutor(device="CPU", poll_s=0.1)
    two_nodes = Placement(gpus=2, tensor_parallel_size=1, pipeline_parallel_size=2)
    launched = spanning.launch(two_nodes, engine_placement_group)
    try:
        assert launched.group is not None and launched.host is not None
        assert ray_cluster.get(launched.ref, timeout=120) == launched.group.id.hex()
    finally:
        launched.release()
    one_node = spanning.launch(Placement(gpus=0), engine_placement_group)
    assert one_node.host is None and ray_cluster.get(one_node.ref, timeout=60) is None

    # The worker's stop reaches a host actor too (a running actor method cannot be cancelled: the
    # actor goes), and its placement group is freed.
    sleeping = spanning.launch(two_nodes, time.sleep, 120)
    assert ray_cluster.wait([sleeping.ref], timeout=3)[0] == []
    sleeping.cancel()
    with pytest.raises(ray_cluster.exceptions.RayActorError):
        ray_cluster.get(sleeping.ref, timeout=60)
    assert sleeping.cancelled
    sleeping.release()


def test_a_task_that_cannot_start_fails_after_the_bound(ray_cluster: Any, tmp_path: Path, small_set: Path) -> None:
    """No node can give the task its CPU (a stand-in holds them all, as a judge replica holds a
    GPU): after start_timeout_s the attempt fails with the reason, instead of waiting forever."""

    class Holder:
        def ready(self) -> bool:
            return True

    cpus = int(ray_cluster.cluster_resources().get("CPU", 0))
    assert cpus >= 1
    holder = ray_cluster.remote(Holder).options(num_cpus=cpus).remote()
    ray_cluster.get(holder.ready.remote(), timeout=60)
    stuck = RayExecutor(poll_s=0.1, start_timeout_s=2.0)
    config = RunConfig(model="baseline:refusal", item_set=load_set(small_set), bootstrap_rounds=50)
    started = time.monotonic()
    try:
        with pytest.raises(ExecutorError, match=r"did not start within 2 s: no node of this cluster .* a CPU"):
            stuck.evaluate(config, RunSink.local(tmp_path / "var"), lambda: False)
    finally:
        ray_cluster.kill(holder)
    assert time.monotonic() - started < 60


def test_several_requests_run_at_once(tmp_path: Path, small_set: Path, executor: RayExecutor) -> None:
    data = DataDir(tmp_path / "var")
    # Each call waits until both requests have called once: two tasks that ran one after the
    # other (or one started late on a loaded machine) would have to wait out the timeout.
    seen: set[str] = set()
    both = threading.Event()
    waited_out: list[str] = []

    def together(model: str, messages: list[dict[str, Any]]) -> str:
        seen.add(model)
        if len(seen) >= 2:
            both.set()
        if not both.wait(timeout=60):
            waited_out.append(model)
        return echo(model, messages)

    with OpenAIServer(together, latency_s=0.3) as server:
        records = [add(data, small_set, f"openai:model-{n}", server.url) for n in range(3)]
        pool = WorkerPool(worker(data, small_set, executor), 2, wait_all=True)
        first = pool.tick()
        assert first == "finished,finished"
        assert waited_out == [], "both requests were in flight at once"
        arrivals = [r.model for r in server.requests]
        assert len(set(arrivals)) == 2
        second = next(m for m in arrivals if m != arrivals[0])
        assert arrivals[0] in arrivals[arrivals.index(second) :], "the two requests' calls interleave"
        assert server.max_in_flight == 2, "one connection per request, both at once, never more"
        assert pool.tick() == "finished"
        assert pool.tick() == "idle"
    queue = Queue(LocalRequestStore(data))
    done = [queue.get(r.id) for r in records]
    assert {r.status for r in done} == {Status.FINISHED}
    assert {h.note.split(" (")[0] for r in done for h in r.history if h.note and h.note.startswith("claimed by")} == {
        "claimed by driver",
        "claimed by driver/2",
    }


def _task_process() -> psutil.Process | None:
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.cmdline()[:1] == [f"ray::{TASK_NAME}"]:
                return proc
        except psutil.Error:
            continue
    return None


def test_a_killed_task_is_retried_and_resumes(tmp_path: Path, small_set: Path, executor: RayExecutor) -> None:
    data = DataDir(tmp_path / "var")
    items = len(load_set(small_set).items)
    with OpenAIServer(latency_s=0.15) as server:
        record = add(data, small_set, "openai:slow-model", server.url)
        driver = worker(data, small_set, executor)
        results: list[str] = []
        thread = threading.Thread(target=lambda: results.append(driver.tick()))
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = [len(p.read_text().splitlines()) for p in data.root.glob("runs/*/replies.jsonl")]
            if done and done[0] >= 3:
                break
            time.sleep(0.05)
        victim = _task_process()
        assert victim is not None, "the request's task is running in its own Ray worker process"
        os.kill(victim.pid, signal.SIGKILL)
        thread.join(60)
        assert results == ["pending"]
        queue = Queue(LocalRequestStore(data))
        failed = queue.get(record.id)
        assert failed.status == Status.PENDING and failed.attempts == 1
        assert failed.reason == (
            "the evaluation task died (its process was killed or crashed); "
            "finished items are kept and the next attempt resumes from them"
        )
        before = server.request_count
        assert before < 2 * items

        assert driver.tick() == "finished"
        after = server.request_count
    finished = queue.get(record.id)
    assert finished.status == Status.FINISHED and finished.attempts == 2
    # Every item needs a reply and a detection call; the second attempt made only the ones
    # the first did not finish (at most one call was cut off by the kill).
    assert after <= 2 * items + 1
    assert after - before <= 2 * items - 3 + 1
    assert len(rows(data, finished.run_id or "")) > 0


def test_rows_are_the_same_as_the_local_executor(tmp_path: Path, small_set: Path, executor: RayExecutor) -> None:
    by_executor: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    with OpenAIServer() as server:
        for name, ex in (("local", LocalExecutor()), ("ray", executor)):
            data = DataDir(tmp_path / name)
            record = add(data, small_set, "openai:echo-model", server.url)
            assert worker(data, small_set, ex).tick() == "finished"
            run_id = Queue(LocalRequestStore(data)).get(record.id).run_id or ""
            by_executor[name] = (run_id, rows(data, run_id))
    assert by_executor["local"][0] == by_executor["ray"][0]
    assert by_executor["local"][1] == by_executor["ray"][1]
    assert len(by_executor["ray"][1]) > 1


def test_a_model_judge_is_one_replica_reused_across_requests(
    tmp_path: Path, small_set: Path, executor: RayExecutor, tiny_checkpoint: Path
) -> None:
    data = DataDir(tmp_path / "var")
    judge = f"hf:{tiny_checkpoint}"
    for spec in ("baseline:refusal", "baseline:template"):
        add(data, small_set, spec)
    driver = worker(data, small_set, executor, judges=(judge,), max_attempts=1)
    results = [driver.tick(), driver.tick()]
    # A random tiny model's verdicts do not parse, so each run ends incomplete; with one
    # attempt each, the second tick takes the other request.
    assert all(r in ("finished", "failed") for r in results), results
    stats = executor.replica_stats()
    assert list(stats) == [judge]
    assert stats[judge]["pid"] != os.getpid()
    assert stats[judge]["calls"] >= 2, "both requests' judge calls went to the same replica"
    specs = [json.loads(p.read_text()) for p in data.root.glob("runs/*/spec.json")]
    assert len(specs) == 2
    assert {s["judges"][0]["id"].split("@")[0] for s in specs} == {judge}


def test_progress_of_a_ray_task_reaches_the_request_record(
    tmp_path: Path, small_set: Path, executor: RayExecutor
) -> None:
    data = DataDir(tmp_path / "var")
    items = len(load_set(small_set).items)
    respond, gate, held = gated(after=3)
    with OpenAIServer(respond) as server:
        record = add(data, small_set, "openai:paced-model", server.url)
        driver = worker(data, small_set, executor, heartbeat_s=0.05)
        expected = f"generating 3/{items}"  # the task is held in its fourth call
        published = threading.Event()
        beat = driver.queue.heartbeat

        def watching(lease: Any, progress: str | None = None) -> Any:
            renewed = beat(lease, progress=progress)
            if progress == expected:
                published.set()
            return renewed

        driver.queue.heartbeat = watching  # type: ignore[method-assign]
        results: list[str] = []
        tick = threading.Thread(target=lambda: results.append(driver.tick()))
        tick.start()
        try:
            assert held.wait(60), "the task reached its fourth call"
            assert published.wait(60), f"the driver published {expected!r}"
            running = Queue(LocalRequestStore(data)).get(record.id)
            assert running.status == Status.RUNNING and running.progress == expected
        finally:
            gate.set()
            tick.join(60)
    assert results == ["finished"]
    assert Queue(LocalRequestStore(data)).get(record.id).progress is None


HUB_STORE = "hub:crisis-org/raylb"


def test_on_a_hub_store_a_task_syncs_its_own_run_from_its_node(
    tmp_path: Path, small_set: Path, ray_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task works in a directory of its node, never the driver's; its run goes through the Hub:
    pushed while it runs and at stage ends, pulled by the next attempt on a fresh directory."""
    items = len(load_set(small_set).items)
    calls = 2 * items  # a reply and a detection per item
    node = tmp_path / "node"
    respond, gate, held = gated(after=calls - 4)
    with hub_site(tmp_path, monkeypatch, HUB_STORE) as site, OpenAIServer(respond, latency_s=0.3) as server:
        private, public = "crisis-org/raylb-private", "crisis-org/raylb-results"
        checkpointed = site.watch_commits(monkeypatch, "/replies.jsonl", 3)
        hub_executor = RayExecutor(poll_s=0.1, checkpoint_s=0.2, task_env=site.task_env(node))
        try:
            record = add(site.open("submit"), small_set, "openai:paced-model", server.url)
            driver_store = site.open("driver")
            driver = worker(driver_store.data, small_set, hub_executor, store=driver_store, max_attempts=5)
            results: list[str] = []
            tick = threading.Thread(target=lambda: results.append(driver.tick()))
            tick.start()
            assert held.wait(60) and checkpointed.wait(60), "the task pushed finished replies while it ran"
            (scratch,) = [d for d in node.iterdir() if d.is_dir()]
            assert any(scratch.glob("runs/*/replies.jsonl")), "the task writes under its node's directory"
            assert not driver.data.runs.exists(), "and nothing under the driver's"
            mirrored = {d.name for d in scratch.iterdir() if d.is_dir() and d.name != ".hub"}
            assert mirrored <= {"runs", "cache"}, f"a task mirrors only what it pulls, not {sorted(mirrored)}"
            assert list(site.emulator.files("crisis-org/raylb-requests")), "though the store has requests"
            victim = _task_process()
            assert victim is not None
            os.kill(victim.pid, signal.SIGKILL)
            tick.join(60)
            gate.set()
            assert results == ["pending"]
            (path,) = [p for p in site.emulator.files(private) if p.endswith("/replies.jsonl")]
            run_id = path.split("/")[1]
            kept = site.emulator.files(private)[path].count(b"\n")
            assert 3 <= kept < calls

            # The next attempt starts on a fresh directory from what the Hub has; its publish fails.
            site.emulator.fail_next(1, status=500, path_contains="raylb-results/commit")
            before = server.request_count
            assert driver.tick() == "pending"
            regenerated = server.request_count - before
            queue = Queue.local(site.open("check"), Settings.from_env())
            assert queue.get(record.id).reason == (
                "the evaluation task could not use the store: crisis-org/raylb-results: the Hub answered HTTP 500"
            )
            assert not any(p.startswith("results/") for p in site.emulator.files(public))

            # The third attempt finds the run complete in the store: it only publishes.
            before = server.request_count
            assert driver.tick() == "finished"
            assert server.request_count == before
        finally:
            hub_executor.close()
        # Replies pushed before the kill were not generated again; no other finished work was lost.
        assert regenerated == calls - kept
        final = Queue.local(site.open("final"), Settings.from_env()).get(record.id)
        assert final.status == Status.FINISHED and final.run_id == run_id and final.attempts == 3
        assert f"results/{run_id}.parquet" in site.emulator.files(public)
        titles = [c.title for c in site.emulator.repos[("dataset", private)].commits]
        for stage in ("checkpoint", "generated", "judged", "finished"):
            assert f"{stage} {run_id}" in titles, stage
        replies = site.emulator.files(private)[path].decode().splitlines()
        tasks = [(json.loads(line)["kind"], json.loads(line)["item_id"]) for line in replies]
        assert len(tasks) == len(set(tasks)) == calls
    assert not any(node.iterdir()), "each attempt's directory went with it"
    assert not driver.data.runs.exists()
