"""vLLM 0.33's own rules, restated for tests that run them on a local Ray (vLLM is not installed).

Where a vLLM engine finds the Ray placement group for its workers: `EngineArgs.create_engine_config`
takes `ray.util.get_current_placement_group()` only when `is_in_ray_actor()` (Ray initialized and
an actor id in the runtime context) and hands it to its engine process in the parallel config;
otherwise the engine process, which is not a Ray worker, finds none and
`ray_utils.initialize_ray_cluster` asks for a new group of one bundle per GPU of the world size,
waiting up to PG_WAIT_TIMEOUT (1,800 s) for it.
"""

from __future__ import annotations


def engine_placement_group() -> str | None:
    """The id of the placement group a vLLM engine started here would use; None: it asks for a new one."""
    import ray

    in_actor = ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None
    group = ray.util.get_current_placement_group() if in_actor else None
    return None if group is None else str(group.id.hex())
