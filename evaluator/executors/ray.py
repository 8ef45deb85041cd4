"""`--executor ray`: each claimed request is one Ray task with the GPUs its model needs.

The driver (the worker process) claims requests and keeps their leases alive with its own
heartbeats, publishing the stage counts each task posts to a small actor (ProgressBoard);
the task only evaluates. The conversation track's run (PROTOCOL section 9) is a task of its
own with the same body, placement, store and failure handling (`converse`). Ray's own
retries are off (max_retries=0): a task that dies (node
lost, out of memory, killed) fails that attempt through the queue, with a reason the
submitter can read, and the request goes back to the queue. A driver that dies leaves
leases that expire as any worker's do.

The task gets the store's spec, not a path. On a `hub:` store it works in a fresh directory
on its own node ($CRISIS_TASK_DIR, else the system's temporary directory, removed at the
end) and writes its run through a run sink over that store (`run_sink`, as the local
executor's): it pulls the run it resumes from the store, commits the run directory and the
cache at each stage's end and every `checkpoint_s` between, and the result rows at the end
(evaluator.storage.sink), so nothing needs to be shared between nodes but the Hub; each
node needs the Hub token ($HF_TOKEN) in its environment, or in `task_env`. A `local:` store
is a directory that every node must see at the same path (one machine, or shared storage):
the task writes there in place. Either way the next attempt resumes from the finished items.

Open-weight models go to vLLM on a cluster with GPUs: 1, 2, 4 or 8 GPUs of one node with
tensor parallelism to match, or whole nodes with pipeline parallelism for a model larger
than a node (evaluator.placement). Model judges (`--judge vllm:ORG/NAME`, or `hf:` on a CPU
cluster) run as one named Ray actor per spec, started once and reused by every request; a
vllm: judge keeps one GPU for good, which no request's placement may count on.

A model spanning nodes runs in a Ray actor inside its placement group, never in a task: vLLM
0.33 hands the current placement group to its engine process only when the LLM is built inside
an actor (EngineArgs.create_engine_config: `is_in_ray_actor()` then
`ray.util.get_current_placement_group()`); otherwise its engine process (not a Ray worker)
finds no group and asks for a new one of every GPU (ray_utils.initialize_ray_cluster), which
the task's own group already holds: a wait of PG_WAIT_TIMEOUT (1,800 s), then failure.

A task that does not start within `start_timeout_s` (no node can give it what it asks for)
is cancelled and fails that attempt with the reason, instead of waiting forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from evaluator.backends import make_backend
from evaluator.backends.base import Conversation, GenerationParams, ModelInfo, OnReply, Reply
from evaluator.conversation import ConversationConfig, ConversationOutcome, run_conversations
from evaluator.executors.base import ExecutorError, run_sink
from evaluator.executors.batch import RayDataBackend, batch_model_info
from evaluator.judge.factory import checklist_judge, make_judge
from evaluator.pipeline import RunConfig, RunOutcome, run_evaluation
from evaluator.placement import CPU_ONLY, Cluster, Placement, PlacementError, cluster_from_ray_nodes, gpus_for
from evaluator.storage import (
    LockBusy,
    StoreError,
    exclusive_lock,
    open_store,
    parse_store,
)

if TYPE_CHECKING:
    from evaluator.backends import BackendOptions
    from evaluator.executors.batch import BatchPlan
    from evaluator.judge.verdict import Judge
    from evaluator.pipeline import OnProgress
    from evaluator.storage import RunSink, Store
    from submissions.records import RequestRecord

log = logging.getLogger("evaluator.executors.ray")

# Either track's run goes the same way: a single-turn run or a conversation run (PROTOCOL section 9).
AnyConfig = TypeVar("AnyConfig", RunConfig, ConversationConfig)

NAMESPACE: Final = "crisis-safety"
TASK_NAME: Final = "evaluate_request"  # Ray titles the task's process "ray::evaluate_request"
REPLICA_KINDS: Final = ("vllm", "hf")  # judges that are models on the cluster; others run in the task
TASK_DIR_ENV: Final = "CRISIS_TASK_DIR"  # where a task on a hub: store makes its node-local directory
TASK_DIR_PREFIX: Final = "crisis-run-"
DEFAULT_CHECKPOINT_S: Final = 60.0  # a lost node costs at most this much generation or judging
DEFAULT_START_TIMEOUT_S: Final = 900.0  # a task still waiting for resources after this fails its attempt
HOST_NAME: Final = "evaluate_request_host"  # the actor a node-spanning request runs in


# ----------------------------------------------------------------------- placement → Ray


def open_weight_on_cluster(model: str, options: BackendOptions, placement: Placement) -> tuple[str, BackendOptions]:
    """The spec and options a request runs with under `placement`: vLLM sized to it on GPUs."""
    kind, _, target = model.partition(":")
    if kind not in ("hf", "vllm") or target.startswith(("/", "./", "../")) or placement.gpus == 0:
        return model, options
    return f"vllm:{target}", replace(
        options,
        tensor_parallel_size=placement.tensor_parallel_size,
        pipeline_parallel_size=placement.pipeline_parallel_size,
    )


def task_options(placement: Placement, device: str = "GPU") -> dict[str, Any]:
    """Ray resources for one request's task (or, across nodes, its host actor).

    Within a node the task holds its GPUs itself and vLLM's own workers inherit them. Across
    nodes vLLM runs its workers as Ray actors (distributed_executor_backend="ray"), placed by
    the placement group the host actor runs in, so the host itself takes none of the GPUs.
    `device` is the resource a bundle holds (vLLM's platform ray_device_key: "GPU" on CUDA).
    """
    if placement.pipeline_parallel_size == 1:
        return {"num_cpus": 1, "num_gpus": placement.gpus}
    return {"num_cpus": 0, "num_gpus": 0, "placement_bundles": [{device: 1, "CPU": 1}] * placement.gpus}


def runs_in_actor(placement: Placement) -> bool:
    """Whether a request runs in a host actor (vLLM finds its placement group only from an actor)."""
    return placement.pipeline_parallel_size > 1


def reserved_gpus(judges: Sequence[str], cluster: Cluster) -> int:
    """GPUs the run's vllm: judge replicas keep for good on this cluster (one each)."""
    if not cluster.gpus:
        return 0
    return len({spec for spec in judges if spec.startswith("vllm:")})


def death_reason(exc: BaseException) -> str:
    """One line for the submitter: why the task running their request ended."""
    import ray.exceptions as rex

    if isinstance(exc, rex.OutOfMemoryError):
        why = "its node ran out of memory"
    elif isinstance(exc, rex.NodeDiedError | rex.LocalRayletDiedError):
        why = "its node was lost"
    elif isinstance(exc, rex.WorkerCrashedError):
        why = "its process was killed or crashed"
    elif isinstance(exc, rex.TaskUnschedulableError):
        why = "no node can run it"
    elif isinstance(exc, rex.ObjectLostError):
        why = "its result was lost with its node"
    else:
        why = f"Ray reported {type(exc).__name__}"
    return f"the evaluation task died ({why}); finished items are kept and the next attempt resumes from them"


# --------------------------------------------------------------------------- in the task


class ReplicaBackend:
    """A Backend whose model lives in a judge replica actor, shared by every request's task."""

    def __init__(self, actor: Any, info: ModelInfo) -> None:
        self._actor = actor
        self._info = info

    @property
    def info(self) -> ModelInfo:
        return self._info

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        import ray

        replies: list[Reply] = ray.get(self._actor.generate.remote([list(c) for c in conversations], params))
        if on_reply:
            for index, reply in enumerate(replies):
                on_reply(index, reply)
        return replies

    def close(self) -> None:
        pass  # the replica outlives the request: the next one reuses it


def judges_for(config: RunConfig | ConversationConfig, replicas: Mapping[str, Any]) -> list[Judge] | None:
    """The run's judges, model judges through their replicas; None: the pipeline builds them."""
    if not replicas:
        return None
    import ray

    judges = []
    for spec in config.judges:
        if spec in replicas:
            info = ray.get(replicas[spec].info.remote())
            judges.append(checklist_judge(spec, ReplicaBackend(replicas[spec], info)))
        else:
            judges.append(make_judge(spec, config.judge_options))
    return judges


@contextlib.contextmanager
def task_store(spec: str) -> Iterator[tuple[Store, Path | None]]:
    """The store a task writes through, and its node-local directory (None: the store's own).

    A `local:` store is already a directory the node sees. A `hub:` store gets a fresh
    mirror on this node for this attempt only, removed at the end: nothing left by another
    attempt or process is trusted, and what the run needs comes from the Hub. That is only
    what it pulls (its run directory and the cache, and the sets for the secrecy audit before
    it publishes): the task is handed its items, so it never downloads the queue or anyone's
    results, however many there are. The task holds a lock beside its directory while it
    lives, so the next task on the node removes the directories of tasks that were killed
    before they could.
    """
    parsed = parse_store(spec)
    if parsed.kind == "local":
        store = open_store(parsed)
        try:
            yield store, None
        finally:
            store.close()
        return
    base = Path(os.environ.get(TASK_DIR_ENV) or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    _remove_dead_tasks(base)
    scratch = base / f"{TASK_DIR_PREFIX}{uuid.uuid4().hex}"
    lock = scratch.with_name(scratch.name + ".lock")
    # No refresh timer in a task (a Space's setting, were the node configured like one).
    env = {k: v for k, v in os.environ.items() if k not in ("CRISIS_MIRROR_INTERVAL", "SPACE_ID")}
    env["CRISIS_MIRROR_DIR"] = str(scratch)
    with exclusive_lock(lock, blocking=False):  # taken before the directory exists: never swept alive
        scratch.mkdir()
        try:
            store = open_store(parsed, env=env, mirrored=())
            try:
                yield store, scratch
            finally:
                store.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            lock.unlink(missing_ok=True)


def _remove_dead_tasks(base: Path) -> None:
    """Directories whose task died without removing them (killed, out of memory): their lock is free."""
    for old in base.glob(f"{TASK_DIR_PREFIX}*"):
        lock = old.with_name(old.name + ".lock")
        if not old.is_dir() or not lock.exists():
            continue
        try:
            with exclusive_lock(lock, blocking=False):
                shutil.rmtree(old, ignore_errors=True)
                lock.unlink(missing_ok=True)
        except LockBusy:
            continue  # its task is alive


def task_store_spec(store: Store) -> str:
    """What the driver hands a task: the spec of its store (a local one as an absolute path)."""
    spec = store.spec
    return f"local:{store.data.root.resolve()}" if spec.kind == "local" else str(spec)


def evaluate_request(
    config: RunConfig | ConversationConfig,
    store_spec: str,
    replicas: Mapping[str, Any],
    board: Any = None,
    key: str = "",
    checkpoint_s: float | None = DEFAULT_CHECKPOINT_S,
) -> RunOutcome | ConversationOutcome:
    """The body of one request's Ray task (module level: Ray names the task after it), for
    either track: a conversation run is carried exactly as a single-turn run is.

    Posts its stage counts to `board` under `key`; writes its run through a run sink over
    the store (evaluator.storage.sink). StoreUnavailable if a complete run could not be
    published: the driver must not call the request finished.
    """

    def report(stage: str, done: int, total: int) -> None:
        board.post.remote(key, stage, done, total)  # fire and forget: the actor keeps the latest

    if board is not None:
        board.started.remote(key)  # the driver stops counting towards its start timeout

    with task_store(store_spec) as (store, scratch):
        sink = run_sink(store, node_local=scratch is not None, checkpoint_s=checkpoint_s)
        try:
            judges = judges_for(config, replicas)
            on_progress = report if board is not None else None
            if isinstance(config, ConversationConfig):
                outcome: RunOutcome | ConversationOutcome = run_conversations(
                    config, store.data, progress=False, judges=judges, on_progress=on_progress, sink=sink
                )
            else:
                outcome = run_evaluation(
                    config, store.data, progress=False, judges=judges, on_progress=on_progress, sink=sink
                )
        except BaseException as exc:  # failed, or cancelled by the driver (KeyboardInterrupt)
            sink.save("failed" if isinstance(exc, Exception) else "stopped")  # stops the checkpoints first
            raise
        if outcome.complete:
            sink.publish()  # stops the checkpoints first
        else:
            sink.save(outcome.status)
    # The node-local copy went with the task; the result file (and transcripts) are in the store now.
    if isinstance(outcome, ConversationOutcome) and scratch:
        outcome = replace(outcome, transcripts_file=None)
    return replace(outcome, result_file=None) if scratch else outcome


@dataclass
class Launched:
    """A request started on the cluster: its result, and what to cancel and free after it."""

    ref: Any
    host: Any = None  # the host actor of a node-spanning request
    group: Any = None  # its placement group
    cancelled: bool = False

    def cancel(self) -> None:
        import ray

        self.cancelled = True
        if self.host is not None:
            ray.kill(self.host)  # a running actor method is not cancelled; its process goes
        else:
            ray.cancel(self.ref, recursive=True)

    def release(self) -> None:
        import ray

        if self.host is not None:
            ray.kill(self.host)
        if self.group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.group)


class ProgressBoard:
    """A small actor where tasks post their stage counts and the driver reads the latest.

    One per executor, shared by its tasks; a task's calls run in the order it made them.
    """

    def __init__(self) -> None:
        self._latest: dict[str, tuple[str, int, int]] = {}
        self._started: set[str] = set()

    def started(self, key: str) -> None:
        self._started.add(key)

    def has_started(self, key: str) -> bool:
        return key in self._started

    def post(self, key: str, stage: str, done: int, total: int) -> None:
        self._latest[key] = (stage, done, total)

    def read(self, key: str) -> tuple[str, int, int] | None:
        return self._latest.get(key)

    def drop(self, key: str) -> None:
        self._latest.pop(key, None)
        self._started.discard(key)


class RequestHost:
    """The actor a node-spanning request runs in (see the module's docstring): one per request."""

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


class JudgeReplica:
    """A judge model kept loaded on the cluster (a Ray actor): requests send it conversations."""

    def __init__(self, spec: str, options: BackendOptions) -> None:
        self._backend = make_backend(spec, options)
        self._calls = 0

    def info(self) -> ModelInfo:
        return self._backend.info

    def generate(self, conversations: list[list[dict[str, str]]], params: GenerationParams) -> list[Reply]:
        self._calls += 1
        return self._backend.generate(conversations, params)

    def stats(self) -> dict[str, int]:
        return {"calls": self._calls, "pid": os.getpid()}


# ----------------------------------------------------------------------------- the driver


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        max_concurrent: int = 1,
        *,
        gpu_memory: int | None = None,
        poll_s: float = 0.5,
        batch: BatchPlan | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
        checkpoint_s: float = DEFAULT_CHECKPOINT_S,
        task_env: Mapping[str, str] | None = None,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        device: str = "GPU",
    ) -> None:
        """`task_env`: environment variables for every task (Ray's runtime_env), for nodes that
        lack them, e.g. the Hub endpoint; a token placed here is visible to anyone who can
        inspect the cluster's tasks, so prefer setting it on the nodes themselves."""
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray needs Ray: pip install -r requirements-ray.txt") from None
        if not ray.is_initialized():
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, **dict(init_kwargs or {}))
        self.max_concurrent = max_concurrent
        self._gpu_memory = gpu_memory
        self._poll_s = poll_s
        if not checkpoint_s > 0:
            raise ValueError("checkpoint_s must be positive")
        if not start_timeout_s > 0:
            raise ValueError("start_timeout_s must be positive")
        self._start_timeout_s = start_timeout_s
        self._device = device
        self._task = ray.remote(max_retries=0)(evaluate_request)
        self._replicas: dict[str, Any] = {}
        self._batch = batch
        self._checkpoint_s = checkpoint_s
        self._task_env = dict(task_env or {})
        self._board: Any = None

    def cluster(self) -> Cluster:
        import ray

        return cluster_from_ray_nodes(ray.nodes(), self._gpu_memory)

    def place(self, config: AnyConfig, request: RequestRecord | None, cluster: Cluster) -> tuple[AnyConfig, Placement]:
        """The run as this cluster runs it, and the GPUs its task asks for."""
        if request is None or request.model_type != "open-weight":
            return config, CPU_ONLY
        cluster = replace(cluster, reserved=reserved_gpus(config.judges, cluster))
        try:
            placement = gpus_for(request.params, request.precision, cluster)
        except PlacementError as exc:
            raise ExecutorError(str(exc)) from None
        model, options = open_weight_on_cluster(config.model, config.model_options, placement)
        return replace(config, model=model, model_options=options), placement

    def replicas(self, config: RunConfig | ConversationConfig, cluster: Cluster) -> dict[str, Any]:
        """The judge replica for each model judge of this run, started on first use."""
        import ray

        out: dict[str, Any] = {}
        for spec in config.judges:
            if spec.partition(":")[0] not in REPLICA_KINDS:
                continue
            actor = self._replicas.get(spec)
            if actor is None:
                gpus = 1 if cluster.gpus and spec.startswith("vllm:") else 0
                actor = (
                    ray.remote(JudgeReplica)
                    .options(name=f"judge:{spec}", get_if_exists=True, num_cpus=1 if not gpus else 0, num_gpus=gpus)
                    .remote(spec, config.judge_options)
                )
                self._replicas[spec] = actor
            out[spec] = actor
        return out

    def evaluate(
        self,
        config: RunConfig,
        sink: RunSink,
        should_stop: Callable[[], bool],
        *,
        on_progress: OnProgress | None = None,
        request: RequestRecord | None = None,
    ) -> RunOutcome:
        outcome: RunOutcome = self._on_ray(config, sink, should_stop, on_progress, request)
        return outcome

    def converse(
        self,
        config: ConversationConfig,
        sink: RunSink,
        should_stop: Callable[[], bool],
        *,
        on_progress: OnProgress | None = None,
        request: RequestRecord | None = None,
    ) -> ConversationOutcome:
        """A conversation run as one Ray task, placed, followed, cancelled and failed as a
        single-turn run is (batch mode is for single-turn runs: a conversation is a task)."""
        outcome: ConversationOutcome = self._on_ray(config, sink, should_stop, on_progress, request)
        return outcome

    def _on_ray(
        self,
        config: AnyConfig,
        sink: RunSink,
        should_stop: Callable[[], bool],
        on_progress: OnProgress | None,
        request: RequestRecord | None,
    ) -> Any:
        import ray
        import ray.exceptions as rex

        cluster = self.cluster()
        config, placement = self.place(config, request, cluster)
        replicas = self.replicas(config, cluster)
        if (
            isinstance(config, RunConfig)
            and self._batch is not None
            and config.model.partition(":")[0] in REPLICA_KINDS
        ):
            return self._evaluate_batch(config, sink, should_stop, on_progress, placement, replicas)
        kind = ConversationOutcome if isinstance(config, ConversationConfig) else RunOutcome
        stopped = kind("stopped", "", [], reason="stopped by the worker")
        if on_progress is not None:
            on_progress(f"on ray ({placement.gpus} GPU)" if placement.gpus else "on ray", 0, 1)
        board, key = self.board(), uuid.uuid4().hex
        launched = self.launch(
            placement, evaluate_request, config, task_store_spec(sink.store), replicas, board, key, self._checkpoint_s
        )
        shown: tuple[str, int, int] | None = None
        started = time.monotonic()
        confirmed = False
        try:
            while not ray.wait([launched.ref], timeout=self._poll_s)[0]:
                if should_stop():
                    launched.cancel()
                    break
                if not confirmed and time.monotonic() - started > self._start_timeout_s:
                    confirmed = self._has_started(key)
                    if not confirmed:
                        launched.cancel()
                        raise ExecutorError(self._not_started(placement, cluster))
                if on_progress is not None:
                    shown = self._show_progress(key, shown, on_progress)
            try:
                return ray.get(launched.ref)
            except rex.TaskCancelledError:
                return stopped
            except rex.RayTaskError as exc:
                cause = exc.cause
                if isinstance(cause, KeyboardInterrupt):  # a cancel that landed inside the run
                    return stopped
                if isinstance(cause, StoreError):
                    # Not the model's fault and not the run's: the next attempt resumes from the store.
                    raise ExecutorError(f"the evaluation task could not use the store: {cause}") from None
                if isinstance(cause, Exception):
                    raise cause from None  # the run's own error (BackendError, RunError...), as local runs raise it
                raise ExecutorError(death_reason(exc)) from None
            except rex.RayError as exc:
                if launched.cancelled:  # a host actor killed on the worker's stop
                    return stopped
                log.warning("evaluation task died: %s", type(exc).__name__)
                raise ExecutorError(death_reason(exc)) from None
        finally:
            board.drop.remote(key)
            launched.release()

    def launch(self, placement: Placement, fn: Callable[..., Any], *args: Any) -> Launched:
        """Start `fn(*args)` where a request under `placement` runs: a task holding its GPUs, or
        for a model spanning nodes a host actor inside a placement group of one bundle per GPU
        (vLLM takes the group it finds from an actor; see the module's docstring)."""
        import ray

        options = task_options(placement, self._device)
        bundles = options.pop("placement_bundles", None)
        if self._task_env:
            options["runtime_env"] = {"env_vars": self._task_env}
        if not bundles:
            task = self._task if fn is evaluate_request else ray.remote(max_retries=0)(fn)
            return Launched(task.options(**options).remote(*args))
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = placement_group(bundles, strategy="PACK")
        host: Any = (
            ray.remote(RequestHost)
            .options(
                **options,
                name=f"{HOST_NAME}:{uuid.uuid4().hex[:12]}",
                max_restarts=0,
                max_task_retries=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_capture_child_tasks=True),
            )
            .remote()
        )
        return Launched(host.run.remote(fn, *args), host=host, group=group)

    def _has_started(self, key: str) -> bool:
        import ray
        from ray.exceptions import GetTimeoutError, RayError

        try:
            return bool(ray.get(self.board().has_started.remote(key), timeout=max(self._poll_s, 5.0)))
        except (GetTimeoutError, RayError):
            return True  # the board is unreachable: no evidence the task is stuck

    def _not_started(self, placement: Placement, cluster: Cluster) -> str:
        wanted = f"{placement.gpus} GPU{'s' if placement.gpus != 1 else ''}" if placement.gpus else "a CPU"
        held = f" ({len(self._replicas)} kept by judge replicas)" if self._replicas else ""
        return (
            f"the evaluation task did not start within {self._start_timeout_s:.0f} s: no node of this "
            f"cluster ({cluster.gpus} GPUs{held}) could give it {wanted}; the request goes back to the queue"
        )

    def board(self) -> Any:
        """The ProgressBoard actor of this executor's tasks, started on first use."""
        import ray

        if self._board is None:
            # No CPU held: it only keeps a few numbers, and must never wait for a task's slot.
            self._board = ray.remote(ProgressBoard).options(num_cpus=0).remote()
        return self._board

    def _show_progress(
        self, key: str, shown: tuple[str, int, int] | None, on_progress: OnProgress
    ) -> tuple[str, int, int] | None:
        """Hand the task's latest stage counts to `on_progress` when they changed; advisory only."""
        import ray
        from ray.exceptions import GetTimeoutError, RayError

        try:
            latest: tuple[str, int, int] | None = ray.get(self.board().read.remote(key), timeout=max(self._poll_s, 5.0))
        except (GetTimeoutError, RayError) as exc:
            log.warning("task progress not read: %s", type(exc).__name__)
            return shown
        if latest is not None and latest != shown:
            on_progress(*latest)
            return latest
        return shown

    def _evaluate_batch(
        self,
        config: RunConfig,
        sink: RunSink,
        should_stop: Callable[[], bool],
        on_progress: OnProgress | None,
        placement: Placement,
        replicas: Mapping[str, Any],
    ) -> RunOutcome:
        """Batch mode: this process drives the run through `sink`, Ray Data replicas generate
        (evaluator.executors.batch)."""
        assert self._batch is not None
        plan = replace(self._batch, tensor_parallel_size=max(1, placement.tensor_parallel_size))
        backend = RayDataBackend(config.model, config.model_options, plan, batch_model_info(config.model))
        backend.run_sink = sink  # its shards go in the run directory the sink opens
        return run_evaluation(
            config,
            sink.data,
            progress=False,
            should_stop=should_stop,
            on_progress=on_progress,
            sink=sink,
            backend=backend,
            judges=judges_for(config, replicas),
        )

    def replica_stats(self) -> dict[str, dict[str, int]]:
        import ray

        return {spec: ray.get(actor.stats.remote()) for spec, actor in self._replicas.items()}

    def close(self) -> None:
        import ray

        for actor in self._replicas.values():
            ray.kill(actor)
        self._replicas.clear()
        if self._board is not None:
            ray.kill(self._board)
            self._board = None
