"""Where a model runs: how many GPUs it needs, and how vLLM splits it across them.

A pure rule, shared by the Ray executor (one task per request) and the Hub jobs (a flavor per
request): from the parameter count and the precision, the weights' size with headroom for
activations and the KV cache; the fewest GPUs of one node (1, 2, 4 or 8, tensor parallel to
match) that hold it; and for a model larger than a whole node, pipeline parallel over as
many full nodes as it takes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

GIB: Final = 1024**3
# Bytes per parameter; "auto" is the checkpoint's own dtype, 16-bit for nearly every release.
BYTES_PER_PARAM: Final = {"auto": 2.0, "bfloat16": 2.0, "float16": 2.0, "float32": 4.0, "int8": 1.0, "int4": 0.5}
# Weights x 1.3: activations, CUDA graphs and a useful KV cache; a GPU is used to 90% (vLLM's
# own default gpu_memory_utilization).
HEADROOM: Final = 1.3
USABLE: Final = 0.9
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

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


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


def memory_needed(params: int, precision: str | None = "auto") -> float:
    """Bytes of GPU memory a model of `params` parameters needs to serve, headroom included."""
    per = BYTES_PER_PARAM.get(precision or "auto")
    if per is None:
        raise PlacementError(f"unknown precision {precision!r}: expected one of {', '.join(BYTES_PER_PARAM)}")
    return params * per * HEADROOM


def gpus_for(params: int | None, precision: str | None, cluster: Cluster) -> Placement:
    """The GPUs a model needs on `cluster`: one node with tensor parallelism when it fits,
    else whole nodes with pipeline parallelism between them. CPU only on a cluster with no GPUs."""
    if cluster.gpus_per_node <= 0 or cluster.nodes <= 0:
        return CPU_ONLY
    if cluster.gpu_memory <= 0:
        raise PlacementError("GPU memory must be positive")
    if not params:
        return Placement(gpus=1)  # unknown size: the smallest task; vLLM says so if it does not fit
    need = memory_needed(params, precision)
    per_gpu = cluster.gpu_memory * USABLE
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
