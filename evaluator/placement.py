"""Where a model runs: how many GPUs it needs, and how vLLM splits it across them.

A pure rule, shared by the Ray executor (one task per request) and the Hub jobs (a flavor per
request): from the parameter count and the precision, what vLLM 0.33 will ask of the GPUs: the
weights, a KV cache for a few sequences of the engine's max_model_len (the vllm: backend's
DEFAULT_MAX_MODEL_LEN unless its prompts need more), and per GPU a fixed share for the CUDA
context, graphs and activations, out of `gpu_memory_utilization` of each GPU (vLLM's default,
0.92: `LLM.__init__`). Then the fewest GPUs of one node (1, 2, 4 or 8, tensor parallel to match)
that hold it, and for a model larger than a whole node, pipeline parallel over as many full nodes
as it takes.

Ray does not say what a model's layers look like, so the KV cache per token is estimated from
the parameter count (KV_BYTES_PER_TOKEN_PER_B, floor and cap), the shapes of Llama-style models:
128 KiB a token at 8B, 32 KiB at 1B, about 500 KiB at 405B; over-estimating a 70B (320 KiB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

GIB: Final = 1024**3
# Bytes per parameter; "auto" is the checkpoint's own dtype, 16-bit for nearly every release.
BYTES_PER_PARAM: Final = {"auto": 2.0, "bfloat16": 2.0, "float16": 2.0, "float32": 4.0, "int8": 1.0, "int4": 0.5}
KIB: Final = 1024
# Non-weight tensors loaded with the weights (embeddings kept in full precision, buffers).
WEIGHT_OVERHEAD: Final = 1.1
# vLLM's own default share of each GPU (LLM.__init__, gpu_memory_utilization=0.92).
GPU_MEMORY_UTILIZATION: Final = 0.92
# Per GPU, out of that share: CUDA context, CUDA graphs, activations of the largest batch.
PER_GPU_RESERVE: Final = int(1.5 * GIB)
# The engine's context the placement plans for (evaluator.backends.vllm.DEFAULT_MAX_MODEL_LEN),
# and how many full-length sequences the KV cache must hold at once to be worth running.
PLANNED_MODEL_LEN: Final = 8192
KV_SEQUENCES: Final = 4
KV_BYTES_PER_TOKEN_PER_B: Final = 16 * KIB
KV_BYTES_PER_TOKEN_MIN: Final = 32 * KIB
KV_BYTES_PER_TOKEN_MAX: Final = 512 * KIB
TP_SIZES: Final = (1, 2, 4, 8)
DEFAULT_GPU_MEMORY: Final = 80 * GIB  # an A100/H100 80 GB, when a cluster does not say


class PlacementError(ValueError):
    """A model no node or cluster here can hold; the message says how many GPUs it needs."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """What the GPUs look like: nodes of `gpus_per_node` GPUs of `gpu_memory` bytes each."""

    gpus_per_node: int
    nodes: int = 1
    gpu_memory: int = DEFAULT_GPU_MEMORY
    reserved: int = 0  # GPUs held for good by others (vllm: judge replicas, one each)

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def free_gpus(self) -> int:
        return max(0, self.gpus - self.reserved)


@dataclass(frozen=True, slots=True)
class Placement:
    gpus: int  # GPUs the task asks for in all (0: CPU only)
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1  # >1: the model spans this many nodes

    @property
    def nodes(self) -> int:
        return self.pipeline_parallel_size

    @property
    def gpus_per_node(self) -> int:
        return self.tensor_parallel_size if self.gpus else 0


CPU_ONLY: Final = Placement(gpus=0)


def kv_bytes_per_token(params: int) -> int:
    """Estimated KV-cache bytes one token takes in a 16-bit cache, from the parameter count."""
    estimate = int(params / 1e9 * KV_BYTES_PER_TOKEN_PER_B)
    return min(KV_BYTES_PER_TOKEN_MAX, max(KV_BYTES_PER_TOKEN_MIN, estimate))


def memory_needed(params: int, precision: str | None = "auto", max_model_len: int = PLANNED_MODEL_LEN) -> float:
    """Bytes of GPU memory a model of `params` parameters needs to serve, over all its GPUs (less
    the per-GPU reserve): its weights and a KV cache of KV_SEQUENCES sequences of max_model_len."""
    per = BYTES_PER_PARAM.get(precision or "auto")
    if per is None:
        raise PlacementError(f"unknown precision {precision!r}: expected one of {', '.join(BYTES_PER_PARAM)}")
    return params * per * WEIGHT_OVERHEAD + kv_bytes_per_token(params) * max_model_len * KV_SEQUENCES


def usable_per_gpu(gpu_memory: int) -> float:
    """What vLLM can give weights and KV cache on one GPU: its share, less the fixed reserve."""
    return gpu_memory * GPU_MEMORY_UTILIZATION - PER_GPU_RESERVE


def gpus_for(params: int | None, precision: str | None, cluster: Cluster) -> Placement:
    """The GPUs a model needs on `cluster`: one node with tensor parallelism when it fits,
    else whole nodes with pipeline parallelism between them. CPU only on a cluster with no GPUs."""
    if cluster.gpus_per_node <= 0 or cluster.nodes <= 0:
        return CPU_ONLY
    if cluster.gpu_memory <= 0:
        raise PlacementError("GPU memory must be positive")
    placement = _fit(params, precision, cluster)
    if placement.gpus > cluster.free_gpus:
        # A task asking for GPUs a judge replica keeps would wait for them forever.
        raise PlacementError(
            f"the model needs {placement.gpus} GPU{'s' if placement.gpus > 1 else ''}; this cluster has "
            f"{cluster.gpus}, {cluster.reserved} of them held by vllm: judge replicas"
        )
    return placement


def _fit(params: int | None, precision: str | None, cluster: Cluster) -> Placement:
    if not params:
        return Placement(gpus=1)  # unknown size: the smallest task; vLLM says so if it does not fit
    need = memory_needed(params, precision)
    per_gpu = usable_per_gpu(cluster.gpu_memory)
    if per_gpu <= 0:
        raise PlacementError(f"GPUs of {cluster.gpu_memory / GIB:.0f} GiB are too small for vLLM")
    node_tp = max(tp for tp in TP_SIZES if tp <= cluster.gpus_per_node)
    for tp in TP_SIZES:
        if tp <= node_tp and need <= per_gpu * tp:
            return Placement(gpus=tp, tensor_parallel_size=tp)
    pp = math.ceil(need / (per_gpu * node_tp))
    if pp > cluster.nodes:
        total = pp * node_tp
        raise PlacementError(
            f"a {params / 1e9:.1f}B-parameter model in {precision or 'auto'} needs about {need / GIB:.0f} GiB "
            f"of GPU memory ({total} GPUs of {cluster.gpu_memory / GIB:.0f} GiB); this cluster has {cluster.gpus}"
        )
    return Placement(gpus=pp * node_tp, tensor_parallel_size=node_tp, pipeline_parallel_size=pp)


def cluster_from_ray_nodes(nodes: Iterable[Mapping[str, Any]], gpu_memory: int | None = None) -> Cluster:
    """A Cluster from `ray.nodes()`: the live nodes with GPUs, sized by the smallest of them
    (a placement must fit wherever Ray puts it). Ray does not report GPU memory: `gpu_memory`
    or the default."""
    counts = [
        int(node.get("Resources", {}).get("GPU", 0))
        for node in nodes
        if node.get("Alive", True) and node.get("Resources", {}).get("GPU", 0) >= 1
    ]
    if not counts:
        return Cluster(gpus_per_node=0, nodes=0, gpu_memory=gpu_memory or DEFAULT_GPU_MEMORY)
    return Cluster(gpus_per_node=min(counts), nodes=len(counts), gpu_memory=gpu_memory or DEFAULT_GPU_MEMORY)
