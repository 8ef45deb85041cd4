"""The run sink (evaluator.storage.sink): a run writes its files through its store.

Against the loopback Hub emulator with the real huggingface_hub client: each stage point
commits the run's files to the private repo, the public rows reach the results repo only at
`publish`, a machine lost mid-run leaves what its last stage committed, and another machine
(its own mirror directory) resumes from the Hub without generating again. The worker's local
executor and the Ray task body build the same sink (evaluator.executors.run_sink)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evaluator.catalog import PUBLIC_SAMPLE
from evaluator.conversation import ConversationConfig, run_conversations
from evaluator.executors import run_sink
from evaluator.executors.ray import TASK_DIR_ENV, evaluate_request
from evaluator.items import ItemSet, load_set
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.storage import LocalStore, Put, RunSink, StoreUnavailable
from evaluator.storage.hub import HubStore, create_repos
from evaluator.worker import Worker, WorkerConfig
from submissions import Queue, Settings, Status, enqueue
from submissions.target import SetRef
from tests.evaluator.conversation.helpers import CARING, always, write_personas
from tests.support.hub_store import HubSite, hub_site
from tests.support.scripted import ScriptedBackend

STORE = "hub:crisis-org/sink"
PRIVATE, PUBLIC = "crisis-org/sink-private", "crisis-org/sink-results"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSite]:
    with hub_site(tmp_path, monkeypatch, STORE) as s:
        create_repos(s.open("setup"), s.cards())
        yield s


def mini_set() -> ItemSet:
    return ItemSet("mini", "1", load_set(PUBLIC_SAMPLE).items[:4], "public")


def caring(conversation: Any) -> str:
    return "That sounds really hard; I'm here with you. Are you safe right now?"


def never(conversation: Any) -> str:
    raise AssertionError("a resumed run generated again")


class LostJudge(HeuristicJudge):
    """A judge whose machine is lost while it works: the run ends with no chance to save."""

    def judge(self, tasks: Any, on_result: Any = None) -> Any:
        raise SystemExit("machine lost")


class Watching(RunSink):
    """The sink, noting what the Hub's private and public repos hold after each stage point."""

    def __init__(self, store: Any, site: HubSite) -> None:
        super().__init__(store)
        self.site = site
        self.seen: dict[str, tuple[set[str], set[str]]] = {}

    def checkpoint(self, stage: str) -> None:
        super().checkpoint(stage)
        self.seen[stage] = (set(self.site.emulator.files(PRIVATE)), set(self.site.emulator.files(PUBLIC)))


def test_each_stage_point_commits_the_run_and_publish_commits_the_rows(site: HubSite) -> None:
    store = site.open("writer")
    config = RunConfig(model="scripted:model", item_set=mini_set(), bootstrap_rounds=20)
    sink = Watching(store, site)
    outcome = run_evaluation(
        config, store.data, progress=False, backend=ScriptedBackend(caring, name="scripted:model"), sink=sink
    )
    assert outcome.complete, outcome.reason
    run = f"runs/{outcome.run_id}"
    private, public = sink.seen["generated"]
    assert {f"{run}/spec.json", f"{run}/replies.jsonl"} <= private
    assert f"{run}/judgements.jsonl" not in private and not any(p.startswith("results/") for p in public)
    private, public = sink.seen["judged"]
    assert f"{run}/judgements.jsonl" in private and not any(p.startswith("results/") for p in public)
    # The rows and examples are in the mirror, not on the Hub, until the caller publishes.
    assert (store.data.results / f"{outcome.run_id}.parquet").is_file()
    assert f"results/{outcome.run_id}.parquet" not in site.emulator.files(PUBLIC)
    sink.publish()
    published = site.emulator.files(PUBLIC)
    assert (
        published[f"results/{outcome.run_id}.parquet"]
        == (store.data.results / f"{outcome.run_id}.parquet").read_bytes()
    )
    assert f"public/examples/{outcome.run_id}.jsonl" in published
    assert (
        site.emulator.files(PRIVATE)[f"{run}/status.json"]
        == (store.data.run_dir(outcome.run_id) / "status.json").read_bytes()
    )
    assert not any(p.startswith("runs/") for p in published), "a run's private files never go to the public repo"


def test_a_run_lost_mid_run_resumes_on_another_machine_from_the_hub(site: HubSite) -> None:
    config = RunConfig(model="scripted:model", item_set=mini_set(), bootstrap_rounds=20)
    first = site.open("first")
    with pytest.raises(SystemExit):
        run_evaluation(
            config,
            first.data,
            progress=False,
            backend=ScriptedBackend(caring, name="scripted:model"),
            judges=[LostJudge()],
            sink=RunSink(first),
        )
    (run_id,) = [p.name for p in first.data.runs.iterdir()]
    replies = f"runs/{run_id}/replies.jsonl"
    assert site.emulator.files(PRIVATE)[replies] == (first.data.root / replies).read_bytes()

    other = site.open("other")  # another machine: its own, empty mirror directory
    assert other.data.root != first.data.root and not other.data.runs.exists()
    sink = RunSink(other)
    outcome = run_evaluation(
        config,
        other.data,
        progress=False,
        backend=ScriptedBackend(never, name="scripted:model"),
        judges=[HeuristicJudge()],
        sink=sink,
    )
    assert outcome.complete and outcome.run_id == run_id, outcome.reason
    sink.publish()
    assert f"results/{run_id}.parquet" in site.emulator.files(PUBLIC)
    assert (other.data.root / replies).read_bytes() == (first.data.root / replies).read_bytes()


def test_publish_that_the_hub_refuses_reaches_the_caller_and_a_later_one_completes(site: HubSite) -> None:
    store = site.open("writer")
    store.write_pause_s = 0.0
    config = RunConfig(model="scripted:model", item_set=mini_set(), bootstrap_rounds=20)
    sink = RunSink(store)
    outcome = run_evaluation(
        config, store.data, progress=False, backend=ScriptedBackend(caring, name="scripted:model"), sink=sink
    )
    site.emulator.fail_next(1, status=500, path_contains="sink-results/commit")
    with pytest.raises(StoreUnavailable):
        sink.publish()
    assert f"results/{outcome.run_id}.parquet" not in site.emulator.files(PUBLIC)
    sink.publish()
    assert f"results/{outcome.run_id}.parquet" in site.emulator.files(PUBLIC)


def test_a_sink_writes_nowhere_but_its_store_directory(tmp_path: Path) -> None:
    sink = RunSink.local(tmp_path / "data")
    with pytest.raises(ValueError, match="outside the run's store directory"):
        sink.write_json(tmp_path / "elsewhere.json", {})
    sink.write_json(tmp_path / "data" / "runs" / "x" / "status.json", {"status": "complete"})
    assert (tmp_path / "data" / "runs" / "x" / "status.json").is_file() and not (tmp_path / "elsewhere.json").exists()
    sink.publish()  # a local home: every file is home once written; nothing to commit


def test_the_local_executor_and_the_ray_task_write_through_the_same_sink(
    site: HubSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, type, bool, float | None]] = []
    lock = threading.Lock()
    real_open = RunSink.open

    def noting(self: RunSink, run_id: str) -> Path:
        with lock:
            opened.append((type(self.store).__name__, type(self), self._fresh, self._checkpoint_s))
        return real_open(self, run_id)

    monkeypatch.setattr(RunSink, "open", noting)
    items = mini_set()
    # The worker with its local executor, on the Hub store.
    submit = site.open("submit")
    queue = Queue.local(submit, Settings.from_env())
    record = enqueue(queue, spec="baseline:refusal", submitter="boss", target=SetRef.of(items), maintainer=True)
    config = WorkerConfig(store=STORE, name="w", bootstrap_rounds=20, personas="none")
    worker = Worker(config, store=site.open("worker"))
    worker.load_set = lambda: items  # type: ignore[method-assign]
    assert worker.tick() == "finished"
    assert Queue.local(site.open("check"), Settings.from_env()).get(record.id).status == Status.FINISHED

    # The Ray task's body, run here (Ray only ships it to a node): a fresh mirror of its own.
    for name, value in site.env("node").items():
        if name != "CRISIS_MIRROR_DIR":  # the task makes its own
            monkeypatch.setenv(name, value)
    monkeypatch.setenv(TASK_DIR_ENV, str(tmp_path / "node"))
    run = RunConfig(model="baseline:template", item_set=items, bootstrap_rounds=20)
    outcome = evaluate_request(run, STORE, {}, checkpoint_s=30.0)
    assert outcome.complete and outcome.result_file is None
    assert f"results/{outcome.run_id}.parquet" in site.emulator.files(PUBLIC)
    assert not any((tmp_path / "node").iterdir()), "the task's directory went with it"

    assert [(s, cls) for s, cls, _, _ in opened] == [("HubStore", RunSink), ("HubStore", RunSink)]
    assert opened[0][2:] == (False, None), "the worker's own directory: pulls are best effort, no timer"
    assert opened[1][2:] == (True, 30.0), "a task's fresh directory: a failed pull raises; checkpoints on a timer"
    assert isinstance(worker.store, HubStore) and not isinstance(worker.store, LocalStore)


def test_a_task_s_fresh_directory_raises_when_the_pull_fails_and_a_worker_s_own_carries_on(site: HubSite) -> None:
    store = site.open("node")
    store.write_pause_s = 0.0
    run_id = "0123456789abcdef"
    site.failing(500)
    try:
        fresh = run_sink(store, node_local=True, checkpoint_s=30.0)
        with pytest.raises(StoreUnavailable):
            fresh.open(run_id)
        assert fresh.prefix is None, "nothing of that run is here to commit over what the store has"
        with pytest.raises(StoreUnavailable):
            fresh.start_cache()
        own = run_sink(store)
        assert own.open(run_id) == store.data.run_dir(run_id)  # best effort: the run goes on
        own.start_cache()
    finally:
        site.recovered()


def test_before_the_audit_a_task_s_fresh_directory_pulls_every_set_once_or_raises(site: HubSite) -> None:
    """A Ray task's directory holds its run and the cache only; the secrecy audit must know every
    private set (and the retired items it lets through), so the sink pulls those first, once."""
    site.open("maintainer").commit(
        [
            Put("sets/held-out/v1/items.jsonl", b'{"id": "h1", "turns": []}\n'),
            Put("sets/personas-private/v1/personas.jsonl", b'{"id": "p1", "opening": "hello"}\n'),
            Put("public/retired/held-out.jsonl", b'{"id": "h0", "turns": []}\n'),
            Put("results/other.parquet", b"not pulled"),
        ],
        "sets",
    )
    store = site.open("node", mirrored=())
    pulls: list[str] = []
    pull = store.pull

    def counted(prefix: str) -> None:
        pulls.append(prefix)
        pull(prefix)

    store.pull = counted  # type: ignore[method-assign]
    fresh = run_sink(store, node_local=True)
    fresh.before_audit()
    fresh.before_audit()
    assert pulls == ["sets/", "public/retired/"], "once per run, only what the audit reads"
    held = {p.relative_to(store.data.root).as_posix() for p in store.data.root.rglob("*.jsonl")}
    assert held == {
        "sets/held-out/v1/items.jsonl",
        "sets/personas-private/v1/personas.jsonl",
        "public/retired/held-out.jsonl",
    }
    assert not store.data.results.exists()

    store.write_pause_s = 0.0
    site.failing(500)
    try:
        with pytest.raises(StoreUnavailable):
            run_sink(store, node_local=True).before_audit()  # nothing is published unaudited
        run_sink(store).before_audit()  # the worker's own mirror audits with what it holds
    finally:
        site.recovered()


def test_a_conversation_run_commits_at_its_stage_points_never_per_turn(site: HubSite, tmp_path: Path) -> None:
    store = site.open("talk")
    personas = write_personas(tmp_path / "p.jsonl", public=True)
    config = ConversationConfig(model="talk/caring", personas=personas)
    before = len(site.emulator.repos[("dataset", PRIVATE)].commits)
    sink = RunSink(store)
    outcome = run_conversations(
        config,
        store.data,
        progress=False,
        backend=ScriptedBackend(always(CARING), name="talk/caring"),
        judges=[HeuristicJudge()],
        sink=sink,
    )
    assert outcome.complete, outcome.reason
    assert outcome.stats["model_turns"] > 2 * len(personas.personas), "several turns per conversation"
    titles = [c.title for c in site.emulator.repos[("dataset", PRIVATE)].commits[before:]]
    assert titles == [f"generated {outcome.run_id}", f"judged {outcome.run_id}"]
    assert (
        site.emulator.files(PRIVATE)[f"runs/{outcome.run_id}/turns.jsonl"]
        == (store.data.run_dir(outcome.run_id) / "turns.jsonl").read_bytes()
    )
    sink.publish()
    assert f"public/conversations/{outcome.run_id}.jsonl" in site.emulator.files(PUBLIC)
