"""Conversation runs under `--executor ray` (issue 21): the worker's conversation track is a Ray
task like its single-turn track, placed, followed, killed and resumed the same way, writing
through the store from its node.

The model under test is an API model on the loopback OpenAI-compatible server, scripted to give
the same caring reply every turn; the simulated person is the offline `script` simulator and
the judge the offline heuristic, so the only calls over HTTP are the model's turns, and the
server can see which process makes them.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

from evaluator.conversation import ConversationConfig
from evaluator.executors import ExecutorError
from evaluator.executors.local import LocalExecutor
from evaluator.executors.ray import TASK_NAME, RayExecutor
from evaluator.items import load_set
from evaluator.pipeline import RunConfig
from evaluator.placement import Cluster
from evaluator.storage import DataDir, Store
from evaluator.worker import Worker, WorkerConfig
from submissions.config import Settings
from submissions.intake import enqueue
from submissions.queue import Queue
from submissions.records import RequestRecord, Status
from submissions.target import SetRef
from tests.evaluator.conversation.helpers import CARING, PERSONAS, write_personas
from tests.support.hub_store import hub_site
from tests.support.openai_server import SAFE_REPLY, OpenAIServer

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
OPENINGS = {str(p["opening"]) for p in PERSONAS}
MODEL_TURNS = sum(int(p["max_turns"]) for p in PERSONAS)  # at most; a person may leave earlier

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, Path]:
    """Three items for the single-turn track and the three test personas (a public set)."""
    items = tmp_path / "ray-talk-items.jsonl"
    items.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8")
    personas = tmp_path / "ray-talk-personas.jsonl"
    write_personas(personas, public=True)
    return items, personas


@pytest.fixture(scope="module")
def executor(ray_cluster: Any) -> Iterator[RayExecutor]:
    ex = RayExecutor(poll_s=0.1)
    try:
        yield ex
    finally:
        ex.close()


def queue(where: Store | DataDir) -> Queue:
    return Queue.local(where, Settings.from_env())


def add(where: Store | DataDir, items: Path, spec: str, base_url: str) -> RequestRecord:
    target = SetRef.of(load_set(items))
    return enqueue(queue(where), spec=spec, base_url=base_url, submitter="boss", target=target, maintainer=True)


def is_talk(messages: list[dict[str, Any]]) -> bool:
    """A conversation turn: it starts from a persona's opening (single-turn prompts are items)."""
    first = next((m for m in messages if m.get("role") == "user"), None)
    return first is not None and first.get("content") in OPENINGS


def callers(port: int) -> dict[int, str]:
    """The processes holding a connection to the server on `port` now, with their titles."""
    pids = {c.pid for c in psutil.net_connections(kind="tcp") if c.pid and c.raddr and c.raddr.port == port}
    return {pid: psutil.Process(pid).cmdline()[0] for pid in pids}


def worker(data: DataDir, items: Path, personas: Path, executor: Any, store: Any = None, **config: Any) -> Worker:
    settings = {"judges": ("heuristic",), "concurrency": 1, "bootstrap_rounds": 50, "lease_s": 30.0}
    settings.update(config)
    where = {"store": str(store.spec)} if store is not None else {"data": str(data.root)}
    return Worker(
        WorkerConfig(item_set=str(items), personas=str(personas), name="driver", **where, **settings),  # type: ignore[arg-type]
        executor=executor,
        store=store,
    )


def track_rows(frames: dict[str, bytes] | Path, track: str) -> list[dict[str, Any]]:
    """The result rows of one track, from a results directory or a repo's files."""
    if isinstance(frames, Path):
        tables = [pd.read_parquet(p) for p in sorted(frames.glob("*.parquet"))]
    else:
        import io

        tables = [pd.read_parquet(io.BytesIO(b)) for p, b in sorted(frames.items()) if p.startswith("results/")]
    chosen = [t for t in tables if set(t["track"]) == {track}]
    assert len(chosen) == 1, f"one {track} result file, got {len(chosen)}"
    return list(json.loads(chosen[0].drop(columns=["evaluated_at"]).to_json(orient="records")))


def test_a_conversation_run_is_placed_as_its_single_turn_run_is(executor: RayExecutor, sets: tuple[Path, Path]) -> None:
    """The same GPUs, the same vLLM sizing, the same refusal of a model too large for the cluster."""
    items, personas = sets
    talk = ConversationConfig(model="hf:org/model@abc", personas=write_personas(personas, public=True))
    single = RunConfig(model="hf:org/model@abc", item_set=load_set(items))
    record = RequestRecord.model_construct(model_type="open-weight", params=70_000_000_000, precision="bfloat16")
    cluster = Cluster(gpus_per_node=8, nodes=1)
    placed, placement = executor.place(talk, record, cluster)
    single_placed, single_placement = executor.place(single, record, cluster)
    assert isinstance(placed, ConversationConfig) and placed.personas == talk.personas
    assert placement == single_placement and placement.gpus > 1
    assert (placed.model, placed.model_options) == (single_placed.model, single_placed.model_options)
    assert placed.model == "vllm:org/model@abc"
    assert placed.model_options.tensor_parallel_size == placement.tensor_parallel_size
    huge = RequestRecord.model_construct(model_type="open-weight", params=405_000_000_000, precision="bfloat16")
    with pytest.raises(ExecutorError, match="this cluster has 1"):
        executor.place(talk, huge, Cluster(gpus_per_node=1, nodes=1))


def test_a_worker_on_ray_runs_the_conversation_track_in_a_task_with_the_local_rows(
    tmp_path: Path, sets: tuple[Path, Path], executor: RayExecutor
) -> None:
    items, personas = sets
    asked_by: list[dict[int, str]] = []  # pid -> its process title, at the first conversation turn
    server_port: list[int] = []

    def respond(model: str, messages: list[dict[str, Any]]) -> str:
        if not is_talk(messages):
            return SAFE_REPLY
        if not asked_by:  # who holds a connection to this server while a conversation turn is asked
            asked_by.append(callers(server_port[0]))
        return CARING

    by_executor: dict[str, list[dict[str, Any]]] = {}
    with OpenAIServer(respond) as server:
        server_port.append(server.port)
        for name, ex in (("ray", executor), ("local", LocalExecutor())):
            data = DataDir(tmp_path / name)
            record = add(data, items, "openai:talk-model", server.url)
            asked_by.clear()
            assert worker(data, items, personas, ex).tick() == "finished"
            assert queue(data).get(record.id).status == Status.FINISHED
            assert track_rows(data.results, "single_turn")
            by_executor[name] = track_rows(data.results, "conversation")
            assert len(list((data.public / "conversations").glob("*.jsonl"))) == 1, "public personas: transcripts"
            (asking,) = asked_by
            if name == "ray":
                assert asking and os.getpid() not in asking, "the conversation turns came from another process"
                assert set(asking.values()) == {f"ray::{TASK_NAME}"}, f"a Ray task asked the model, not {asking}"
            else:
                assert set(asking) == {os.getpid()}, "the local executor converses in the worker's own process"
    assert by_executor["ray"] == by_executor["local"]
    assert len(by_executor["ray"]) > 1, "an overall row and one per category"
    assert {r["track"] for r in by_executor["ray"]} == {"conversation"}


HUB_STORE = "hub:crisis-org/raytalk"


def test_on_a_hub_store_a_killed_conversation_task_resumes_and_publishes_through_the_hub(
    tmp_path: Path, sets: tuple[Path, Path], ray_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conversation task works in a directory of its node and commits its turns through the
    Hub while it runs; killed, the request goes back to the queue with the reason a single-turn
    task's death gives; the next attempt, on a fresh directory, resumes from the committed
    turns, and the conversation rows and public transcripts end in the results repo."""
    items, personas = sets
    node = tmp_path / "node"
    talk_calls: list[int] = []
    gate, held = threading.Event(), threading.Event()
    hold_at = 5  # the model's fifth conversation turn: the first turn of all three is done

    def respond(model: str, messages: list[dict[str, Any]]) -> str:
        if is_talk(messages):
            talk_calls.append(1)
            if len(talk_calls) == hold_at:
                held.set()
                gate.wait(120)
        return CARING if is_talk(messages) else SAFE_REPLY

    with hub_site(tmp_path, monkeypatch, HUB_STORE) as site, OpenAIServer(respond) as server:
        private, public = "crisis-org/raytalk-private", "crisis-org/raytalk-results"
        checkpointed = site.watch_commits(monkeypatch, "/turns.jsonl", 3)
        hub_executor = RayExecutor(poll_s=0.1, checkpoint_s=0.2, task_env=site.task_env(node))
        try:
            record = add(site.open("submit"), items, "openai:talk-model", server.url)
            driver_store = site.open("driver")
            driver = worker(driver_store.data, items, personas, hub_executor, store=driver_store, max_attempts=5)
            results: list[str] = []
            tick = threading.Thread(target=lambda: results.append(driver.tick()))
            tick.start()
            assert held.wait(90) and checkpointed.wait(60), "the task committed finished turns while it ran"
            (scratch,) = [d for d in node.iterdir() if d.is_dir()]
            assert any(scratch.glob("runs/*/turns.jsonl")), "the conversation is written on its node"
            assert not driver.data.runs.exists(), "and nothing under the driver's directory"
            victim = next(
                (p for p in psutil.Process().children(recursive=True) if p.cmdline()[:1] == [f"ray::{TASK_NAME}"]),
                None,
            )
            assert victim is not None, "the conversation runs in a Ray task"
            os.kill(victim.pid, signal.SIGKILL)
            tick.join(60)
            gate.set()
            assert results == ["pending"]
            assert queue(site.open("check")).get(record.id).reason == (
                "the evaluation task died (its process was killed or crashed); "
                "finished items are kept and the next attempt resumes from them"
            )
            (turns,) = [p for p in site.emulator.files(private) if p.endswith("/turns.jsonl")]
            assert not any("conversations" in p for p in site.emulator.files(public)), "nothing public yet"

            before = len(talk_calls)
            assert driver.tick() == "finished"
            again = len(talk_calls) - before
        finally:
            hub_executor.close()
        # Turns committed before the kill were not asked again.
        assert 0 < again <= MODEL_TURNS - (hold_at - 1) + 1
        final = queue(site.open("final")).get(record.id)
        assert final.status == Status.FINISHED and final.attempts == 2
        published = site.emulator.files(public)
        talk_rows = track_rows(published, "conversation")
        run_id = turns.split("/")[1]
        assert {r["run_id"] for r in talk_rows} == {run_id}
        assert f"public/conversations/{run_id}.jsonl" in published, "the public personas' transcripts"
        assert track_rows(published, "single_turn")
        assert f"runs/{run_id}/verdicts.jsonl" in site.emulator.files(private)
    assert not any(node.iterdir()), "each attempt's directory went with it"
    assert not driver.data.runs.exists()


def test_a_worker_shut_down_mid_conversation_cancels_its_task(
    tmp_path: Path, sets: tuple[Path, Path], executor: RayExecutor
) -> None:
    """The worker's stop reaches the conversation task as it reaches a single-turn one: the task
    is cancelled while a turn is being asked, and the request goes back to the queue. (Ray's
    cancel is a KeyboardInterrupt that the task's main thread sees once the call it waits on
    returns: a turn under way finishes first, for either track.)"""
    items, personas = sets
    talk_calls: list[int] = []
    held = threading.Event()
    asking: dict[int, str] = {}
    server_port: list[int] = []

    def respond(model: str, messages: list[dict[str, Any]]) -> str:
        if not is_talk(messages):
            return SAFE_REPLY
        talk_calls.append(1)
        if len(talk_calls) == 2:
            asking.update(callers(server_port[0]))
            held.set()
            time.sleep(3)  # a slow turn; the task is cancelled while it waits for it
        return CARING

    data = DataDir(tmp_path / "var")
    with OpenAIServer(respond) as server:
        server_port.append(server.port)
        record = add(data, items, "openai:talk-model", server.url)
        driver = worker(data, items, personas, executor)
        results: list[str] = []
        tick = threading.Thread(target=lambda: results.append(driver.tick()))
        tick.start()
        assert held.wait(90), "the conversation task is asking its second turn"
        assert set(asking.values()) == {f"ray::{TASK_NAME}"}, f"a Ray task asks, not {asking}"
        started = time.monotonic()
        assert driver.shutdown(grace_s=60), "the run wound down when the task was cancelled"
        assert time.monotonic() - started < 60
        tick.join(30)
    assert results == ["pending"]
    returned = queue(data).get(record.id)
    assert returned.status == Status.PENDING and returned.attempts == 0
    assert returned.history[-1].note == "the worker was shut down; returned to the queue"
    # At most the first turn's calls already handed to the backend; the conversations have more.
    assert len(talk_calls) <= len(PERSONAS) < MODEL_TURNS, "the conversation stopped at the cancel"
