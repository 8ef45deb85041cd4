"""The placement rule: GPUs, tensor and pipeline parallelism from a model's size, on fake clusters."""

from __future__ import annotations

import pytest

from evaluator.placement import (
    GIB,
    Cluster,
    Placement,
    PlacementError,
    cluster_from_ray_nodes,
    gpus_for,
    kv_bytes_per_token,
    memory_needed,
    usable_per_gpu,
)

B = 1_000_000_000
H100 = 80 * GIB


def node(gpus: int, alive: bool = True) -> dict[str, object]:
    resources: dict[str, float] = {"CPU": 16.0}
    if gpus:
        resources["GPU"] = float(gpus)
    return {"Alive": alive, "Resources": resources}


@pytest.mark.parametrize(
    ("params", "precision", "expected"),
    [
        (int(0.5 * B), "auto", Placement(1, 1)),
        (8 * B, "bfloat16", Placement(1, 1)),  # 16 GB of weights: one 80 GB GPU
        (8 * B, "float32", Placement(1, 1)),
        (32 * B, "bfloat16", Placement(2, 2)),  # 70 GB of weights and 16 GiB of KV > 72 GiB usable
        (70 * B, "bfloat16", Placement(4, 4)),
        (70 * B, "float32", Placement(8, 8)),
        (180 * B, "bfloat16", Placement(8, 8)),
    ],
)
def test_one_node_of_eight(params: int, precision: str, expected: Placement) -> None:
    assert gpus_for(params, precision, Cluster(gpus_per_node=8, nodes=1, gpu_memory=H100)) == expected


@pytest.mark.parametrize("gpus_per_node", [1, 2, 4, 8])
def test_tensor_parallel_never_exceeds_a_node(gpus_per_node: int) -> None:
    cluster = Cluster(gpus_per_node=gpus_per_node, nodes=4, gpu_memory=H100)
    small = gpus_for(7 * B, "bfloat16", cluster)
    assert small == Placement(1, 1, 1)
    medium = gpus_for(70 * B, "bfloat16", cluster)  # about 182 GB: 4 GPUs' worth of memory
    assert medium.tensor_parallel_size == min(4, gpus_per_node)
    assert medium.tensor_parallel_size * medium.pipeline_parallel_size == medium.gpus >= 3
    assert medium.gpus_per_node <= gpus_per_node


@pytest.mark.parametrize("nodes", [1, 2, 3, 4])
def test_larger_than_a_node_spans_nodes(nodes: int) -> None:
    # 405B in bf16 is about 846 GiB with its KV cache: two nodes of 8 x 80 GiB (577 GiB usable
    # each at vLLM's 0.92, less the per-GPU reserve); in float32 about 1676 GiB: three nodes.
    cluster = Cluster(gpus_per_node=8, nodes=nodes, gpu_memory=H100)
    if nodes < 2:
        with pytest.raises(PlacementError, match=r"needs about 846 GiB .*\(16 GPUs of 80 GiB\); this cluster has 8"):
            gpus_for(405 * B, "bfloat16", cluster)
    else:
        assert gpus_for(405 * B, "bfloat16", cluster) == Placement(16, 8, 2)
    if nodes < 3:
        with pytest.raises(PlacementError, match=r"\(24 GPUs of 80 GiB\)"):
            gpus_for(405 * B, "float32", cluster)
    else:
        assert gpus_for(405 * B, "float32", cluster) == Placement(24, 8, 3)


def test_small_gpus_need_more_of_them() -> None:
    a10 = Cluster(gpus_per_node=4, nodes=2, gpu_memory=24 * GIB)
    assert gpus_for(8 * B, "bfloat16", a10) == Placement(1, 1)  # 20.4 GiB of 20.6 usable
    assert gpus_for(9 * B, "bfloat16", a10) == Placement(2, 2)
    assert gpus_for(30 * B, "bfloat16", a10) == Placement(4, 4)
    assert gpus_for(40 * B, "bfloat16", a10) == Placement(gpus=8, tensor_parallel_size=4, pipeline_parallel_size=2)


def test_vllm_share_of_a_gpu_and_the_kv_cache_are_counted() -> None:
    """vLLM takes 0.92 of each GPU by default (LLM.__init__), and start-up needs a KV cache for
    the engine's max_model_len: a long context costs GPUs that the weights alone would not."""
    assert usable_per_gpu(H100) == pytest.approx(0.92 * H100 - 1.5 * GIB)
    weights = 8 * B * 2
    assert memory_needed(8 * B, "bfloat16") == pytest.approx(weights * 1.1 + 128 * 1024 * 8192 * 4)
    # 8B in bf16 on a 24 GB card: fits with the planned 8k context, not with a full 128k one.
    a10 = 24 * GIB
    assert memory_needed(8 * B, "bfloat16") <= usable_per_gpu(a10)
    assert memory_needed(8 * B, "bfloat16", max_model_len=131072) > 3 * usable_per_gpu(a10)
    # Bigger models keep more KV per token (estimated from the size, capped).
    assert kv_bytes_per_token(1 * B) < kv_bytes_per_token(8 * B) < kv_bytes_per_token(405 * B) == 512 * 1024


def test_no_gpus_means_cpu_and_unknown_size_means_one_gpu() -> None:
    assert gpus_for(70 * B, "bfloat16", Cluster(gpus_per_node=0, nodes=0)).gpus == 0
    assert gpus_for(None, "auto", Cluster(gpus_per_node=8)) == Placement(1, 1)


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(PlacementError, match="unknown precision 'fp7'"):
        gpus_for(B, "fp7", Cluster(gpus_per_node=1))


@pytest.mark.parametrize("per_node", [1, 2, 4, 8])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_cluster_from_ray_nodes(per_node: int, count: int) -> None:
    nodes = [node(per_node) for _ in range(count)] + [node(0), node(per_node, alive=False)]
    assert cluster_from_ray_nodes(nodes, gpu_memory=H100) == Cluster(per_node, count, H100)


def test_a_mixed_cluster_is_sized_by_its_smallest_gpu_node() -> None:
    assert cluster_from_ray_nodes([node(8), node(4)]).gpus_per_node == 4
    assert cluster_from_ray_nodes([node(0)]).gpus == 0
