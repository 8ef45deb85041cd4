"""Batch mode: one model over several replicas with Ray Data, for very large item sets or many samples.

`RayDataBackend` is a Backend: the pipeline hands it every pending conversation at once, and
it cuts them into shards of `shard_size`, streams them through `replicas` copies of the model
and writes each shard to the run directory as Parquet (`runs/<id>/shards/replies-00003.parquet`)
as soon as all its rows are back. A shard already on disk is not generated again, so a batch
killed halfway resumes per shard. Each reply also reaches the pipeline's own replies.jsonl
through `on_reply`, so scoring and resuming work as for any backend.

On GPUs the replicas are `ray.data.llm` vLLM engines (vLLMEngineProcessorConfig and
build_processor of the installed Ray, 2.60; requirements-ray-llm.txt); on a CPU cluster the same
path runs the hf: backend in a Ray Data actor pool (map_batches with a callable class).

As Ray 2.60's batch stages behave (ray/llm/_internal/batch): with should_continue_on_error a
row whose inference failed skips the postprocess (stages/base.py, wrap_postprocess) and comes
back as the stage's own data, its reason in `__inference_error__`: it becomes a failed reply
with that reason. The chat-template, tokenize and engine stages each load the model from
`model_source` with no revision (download_model_files leaves a Hub id as it is), so they are
given a local snapshot of the commit the run recorded, the same path on every GPU node.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from evaluator.backends import BackendError, BackendOptions, make_backend, parse_spec
from evaluator.backends.base import Conversation, GenerationParams, ModelInfo, OnReply, Reply, with_system_prompt
from evaluator.backends.hf import file_content_hash, local_content_hash, resolve_hub_model
from evaluator.backends.vllm import engine_model_len, sampling_options
from evaluator.storage import RunSink, atomic_write_bytes

SHARD_COLUMNS: Final = ("index", "text", "prompt_tokens", "completion_tokens", "finish_reason", "error")
ERROR_COLUMN: Final = "__inference_error__"  # Ray Data LLM's reason for a row that failed
# What a vLLM replica reads of a checkpoint: weights, configs, tokenizer and chat template.
SNAPSHOT_PATTERNS: Final = ("*.safetensors", "*.json", "*.jinja", "*.model", "*.txt", "*.tiktoken")
# (repo id, commit) -> a local directory with that commit's files, the same path on every node.
Snapshotter = Callable[[str, str], str]


@dataclass(frozen=True)
class BatchPlan:
    replicas: int = 2
    shard_size: int = 256
    batch_size: int = 16  # rows per call into one replica
    tensor_parallel_size: int = 1  # vLLM replicas only
    num_cpus: float = 1.0  # per hf: replica

    def __post_init__(self) -> None:
        if min(self.replicas, self.shard_size, self.batch_size, self.tensor_parallel_size) < 1 or self.num_cpus <= 0:
            raise ValueError("replicas, shard size, batch size and tensor parallel size must be at least 1")


class HFReplica:
    """One hf: copy of the model in a Ray Data actor: batches of conversations in, replies out."""

    def __init__(self, spec: str, options: BackendOptions, params: GenerationParams) -> None:
        self._backend = make_backend(spec, options)
        self._params = params

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        conversations = [json.loads(m) for m in batch["messages"]]
        replies = self._backend.generate(conversations, self._params)
        out: dict[str, list[Any]] = {"index": [int(i) for i in batch["index"]]}
        for column in SHARD_COLUMNS[1:]:
            out[column] = [getattr(r, column) for r in replies]
        return out


class RayDataBackend:
    """A Backend that generates through Ray Data replicas; `shard_dir` is set before generate()."""

    def __init__(
        self,
        spec: str,
        options: BackendOptions,
        plan: BatchPlan,
        info: ModelInfo,
        *,
        snapshot: Snapshotter | None = None,
    ) -> None:
        self._spec = spec
        self._options = options
        self._plan = plan
        self._snapshot: Snapshotter = snapshot or snapshot_on_every_node
        self._info = ModelInfo(
            spec=info.spec,
            model=info.model,
            revision=info.revision,
            model_type=info.model_type,
            details={**info.details, "batch": {"replicas": plan.replicas, "engine": self.engine}},
        )
        self.shard_dir: Path | None = None
        self.run_sink: RunSink | None = None  # else: shards under the run directory this sink opened

    @property
    def engine(self) -> str:
        return "vllm" if parse_spec(self._spec).kind == "vllm" else "hf"

    @property
    def info(self) -> ModelInfo:
        return self._info

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        if self.shard_dir is None and self.run_sink is not None and self.run_sink.run_dir is not None:
            self.shard_dir = self.run_sink.run_dir / "shards"
        if self.shard_dir is None:
            raise RuntimeError("internal error: the batch backend was not given its run directory")
        messages = [json.dumps(with_system_prompt(c, params), ensure_ascii=False) for c in conversations]
        # Shards are named by what they hold: a different set of pending conversations (a
        # resumed run with fewer left) never reuses a shard that answered other ones.
        key = hashlib.sha256(json.dumps([params.key(), messages]).encode()).hexdigest()[:12]
        size = self._plan.shard_size
        shards = [range(start, min(start + size, len(messages))) for start in range(0, len(messages), size)]
        replies: dict[int, Reply] = {}
        pending: list[int] = []
        for n, shard in enumerate(shards):
            found = self._read_shard(self._shard_path(key, n))
            if found is not None and set(found) == set(shard):
                replies.update(found)
            else:
                pending.append(n)
        if pending:
            rows = [{"index": i, "shard": n, "messages": messages[i]} for n in pending for i in shards[n]]
            waiting = {n: len(shards[n]) for n in pending}
            collected: dict[int, dict[int, Reply]] = {n: {} for n in pending}
            shard_of = {i: n for n in pending for i in shards[n]}
            for index, reply in self._stream(rows, params):
                n = shard_of[index]
                collected[n][index] = reply
                if len(collected[n]) == waiting[n]:
                    self._write_shard(self._shard_path(key, n), collected[n])
                    replies.update(collected[n])
        if on_reply:
            for index in range(len(messages)):
                on_reply(index, replies[index])
        return [replies[i] for i in range(len(messages))]

    def close(self) -> None:
        pass

    # -- Ray Data ----------------------------------------------------------------------------

    def _stream(self, rows: list[dict[str, Any]], params: GenerationParams) -> Iterator[tuple[int, Reply]]:
        import ray.data

        dataset: Any = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // self._plan.batch_size))
        if self.engine == "vllm":
            longest = max((len(row["messages"]) for row in rows), default=0)
            dataset = self._vllm(dataset, params, longest_chars=longest)
        else:
            dataset = dataset.map_batches(
                HFReplica,
                fn_constructor_kwargs={"spec": self._spec, "options": self._options, "params": params},
                batch_size=self._plan.batch_size,
                concurrency=self._plan.replicas,
                num_cpus=self._plan.num_cpus,
            )
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            for row in batch.to_dict(orient="records"):
                yield int(row["index"]), _reply({str(k): v for k, v in row.items()})

    def _vllm(self, dataset: Any, params: GenerationParams, longest_chars: int = 0) -> Any:
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig

        target = parse_spec(self._spec)
        commit = self._info.revision
        if not commit:
            raise BackendError(f"{self._spec}: no commit resolved to pin the batch replicas to")
        # Every stage (chat template, tokenizer, engine) loads this directory: one commit for all.
        source = self._snapshot(target.target, commit)
        # No tokenizer here (the replicas have it): a prompt's JSON is at least a character a
        # token; vLLM without max_model_len would reserve the model's whole context.
        max_model_len = engine_model_len(longest_chars, params.max_new_tokens, context_length(source))
        config = vLLMEngineProcessorConfig(
            model_source=source,
            engine_kwargs={
                "tensor_parallel_size": self._plan.tensor_parallel_size,
                "trust_remote_code": False,
                "load_format": "safetensors",
                "generation_config": "vllm",
                "max_model_len": max_model_len,
            },
            concurrency=self._plan.replicas,
            batch_size=self._plan.batch_size,
            should_continue_on_error=True,  # one bad row is that row's failure, as with every backend
        )
        sampling = sampling_options(params)
        processor = build_processor(
            config,
            preprocess=lambda row: {
                "index": row["index"],
                "messages": json.loads(row["messages"]),
                "sampling_params": sampling,
            },
            postprocess=lambda row: {
                "index": row["index"],
                "text": row.get("generated_text"),
                "prompt_tokens": row.get("num_input_tokens"),
                "completion_tokens": row.get("num_generated_tokens"),
                "finish_reason": None,  # vLLM's stage does not carry it through
                "error": None,  # rows that failed skip the postprocess (ERROR_COLUMN)
            },
        )
        return processor(dataset)

    # -- shards ------------------------------------------------------------------------------

    def _shard_path(self, key: str, n: int) -> Path:
        assert self.shard_dir is not None
        return self.shard_dir / f"replies-{key}-{n:05d}.parquet"

    @staticmethod
    def _write_shard(path: Path, replies: Mapping[int, Reply]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        indexes = sorted(replies)
        table = pa.table(
            {"index": indexes, **{c: [getattr(replies[i], c) for i in indexes] for c in SHARD_COLUMNS[1:]}},
            schema=pa.schema(
                [
                    ("index", pa.int64()),
                    ("text", pa.string()),
                    ("prompt_tokens", pa.int64()),
                    ("completion_tokens", pa.int64()),
                    ("finish_reason", pa.string()),
                    ("error", pa.string()),
                ]
            ),
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        atomic_write_bytes(path, buffer.getvalue())  # a shard is on disk whole or not at all

    @staticmethod
    def _read_shard(path: Path) -> dict[int, Reply] | None:
        if not path.exists():
            return None
        import pyarrow.parquet as pq

        return {int(row["index"]): _reply(row) for row in pq.read_table(path).to_pylist()}


def batch_model_info(spec: str) -> ModelInfo:
    """What the run records about the model, without loading it: the replicas do that.

    The same spec, model and revision as the hf: backend would report, so a batch run has the
    run id (and rows) of the same run done in one process.
    """
    parsed = parse_spec(spec)
    if parsed.is_local_path:
        path = Path(parsed.target).expanduser().resolve()
        revision = file_content_hash(path) if path.is_file() else local_content_hash(path)
    else:
        revision = resolve_hub_model(parsed.target, parsed.revision).sha
    return ModelInfo(
        spec=str(parsed),
        model=parsed.target,
        revision=revision,
        model_type="open-weight",
        details={"backend": parsed.kind},
    )


def _reply(row: Mapping[str, Any]) -> Reply:
    def count(value: Any) -> int | None:
        return None if value is None or value != value else int(value)  # NaN from pandas

    def reason(value: Any) -> str | None:
        return None if value is None or value != value or value == "" else str(value)

    error = reason(row.get("error")) or reason(row.get(ERROR_COLUMN))
    text = row.get("text")
    return Reply(
        text=None if error or text is None or text != text else str(text),
        prompt_tokens=count(row.get("prompt_tokens")),
        completion_tokens=count(row.get("completion_tokens")),
        finish_reason=row.get("finish_reason") if isinstance(row.get("finish_reason"), str) else None,
        error=error,
    )


def local_snapshot(repo_id: str, commit: str) -> str:
    """This node's copy of `commit` of `repo_id` (downloaded once into the Hugging Face cache)."""
    from huggingface_hub import snapshot_download

    return str(snapshot_download(repo_id, revision=commit, allow_patterns=list(SNAPSHOT_PATTERNS)))


def snapshot_on_every_node(repo_id: str, commit: str) -> str:
    """The snapshot of `commit` on every live GPU node (one small task pinned to each), and its
    path, which must be the same everywhere: Ray Data places replicas on any of them."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("GPU", 0) >= 1]
    if not nodes:
        return local_snapshot(repo_id, commit)
    task = ray.remote(num_cpus=0, max_retries=1)(local_snapshot)
    paths = ray.get(
        [
            task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(repo_id, commit)
            for node in nodes
        ]
    )
    if len(set(paths)) != 1:
        raise BackendError(
            f"the GPU nodes keep {repo_id} in different places ({', '.join(sorted(set(paths)))}): "
            "give every node the same HF_HOME (or HF_HUB_CACHE)"
        )
    return str(paths[0])


def context_length(directory: str) -> int | None:
    """max_position_embeddings from a snapshot's config.json (None when it cannot be read here)."""
    try:
        config = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    value = text.get("max_position_embeddings") if isinstance(text, dict) else None
    return value if isinstance(value, int) and value > 0 else None
