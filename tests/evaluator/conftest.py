"""Fixtures for the evaluator tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray on 2 CPUs for the whole session (it takes seconds to start), shut down at the end."""
    ray = pytest.importorskip("ray", reason="the Ray executor needs requirements-ray.txt")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        num_cpus=2,
        namespace="crisis-safety",
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024**2,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}},
    )
    try:
        yield ray
    finally:
        ray.shutdown()
