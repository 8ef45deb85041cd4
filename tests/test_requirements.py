"""The GPU worker's requirement sets: they resolve together, and the worker never needs Gradio.

Gradio 6.31 caps pillow below 13 and vLLM 0.33 needs 13 or later, so the Space's requirements.txt
and requirements-gpu.txt can never be installed together; the worker has its own set.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SPACE_ONLY = ("gradio", "gradio-client", "plotly")


def requirement_names(path: Path) -> dict[str, str]:
    """name -> the requirement line, following `-r` includes."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(requirement_names(path.parent / line[3:].strip()))
            continue
        name = re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0]
        out[name.lower().replace("_", "-")] = line
    return out


def test_the_worker_set_leaves_the_space_out() -> None:
    worker = requirement_names(ROOT / "requirements-worker.txt")
    assert not set(SPACE_ONLY) & set(worker)
    assert {"pandas", "pyarrow", "pydantic", "httpx", "huggingface-hub", "orjson", "apscheduler"} <= set(worker)


def test_worker_modules_never_import_gradio() -> None:
    """Every module of evaluator/ and submissions/ (the worker, store, executors, backends) imported
    in a fresh interpreter: none of them pulls in Gradio or plotly, and what they import at module
    level is in the worker's set."""
    probe = """
import importlib, json, pkgutil, sys
import evaluator, submissions
names = [m.name for pkg in (evaluator, submissions) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
         if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"count": len(names), "modules": sorted({n.split(".")[0] for n in sys.modules})}))
"""
    done = subprocess.run([PY, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["count"] > 50
    loaded = set(report["modules"])
    assert not {"gradio", "plotly", "space", "leaderboard"} & loaded, sorted(loaded)
    worker = requirement_names(ROOT / "requirements-worker.txt")
    # pandas is imported lazily (inside the functions that read tables), so it is not listed here.
    imported_names = {"pyarrow", "numpy", "pydantic", "orjson"}
    assert imported_names <= loaded, "the probe no longer sees the worker's own imports"
    assert imported_names <= set(worker)


def _registry_reachable() -> bool:
    done = subprocess.run([PY, "-m", "pip", "index", "versions", "vllm"], capture_output=True, text=True, timeout=120)
    return done.returncode == 0 and "0.33.0" in done.stdout


def resolve(*files: str) -> dict[str, str]:
    """What pip would install for `files` in an empty environment (name -> version), or the
    resolver's error as AssertionError. Only package metadata is fetched (no wheels)."""
    args = [PY, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-"]
    for name in files:
        args += ["-r", str(ROOT / name)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Location")]
    assert done.returncode == 0, f"{' + '.join(files)} do not resolve:\n" + "\n".join(errors[-25:])
    report = json.loads(done.stdout)
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in report["install"]}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_worker_and_gpu_sets_resolve_together() -> None:
    if not _registry_reachable():
        pytest.skip("the package registry is unreachable: the resolution cannot be checked here")
    installed = resolve("requirements-worker.txt", "requirements-gpu.txt", "requirements-ray-llm.txt")
    assert installed["vllm"] == "0.33.0"
    assert installed["ray"] == importlib.metadata.version("ray")
    assert int(installed["pillow"].split(".")[0]) >= 13
    assert not set(SPACE_ONLY) & set(installed)


# -------------------------------------------------------------- Ray and vLLM, one pairing


def _llm_extra() -> dict[str, str]:
    requires = importlib.metadata.requires("ray") or []
    out = {}
    for line in requires:
        if 'extra == "llm"' in line:
            name = re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower()
            out[name] = line
    return out


def test_ray_and_vllm_are_one_documented_pairing() -> None:
    """Ray's `llm` extra pins another vLLM than the worker's: the extra is not used, what
    ray.data.llm imports besides vLLM is installed on its own, and the docs name the pairing."""
    ray_pin = requirement_names(ROOT / "requirements-ray.txt")["ray"]
    vllm_pin = requirement_names(ROOT / "requirements-gpu.txt")["vllm"]
    ray_version = ray_pin.split("==")[1]
    vllm_version = vllm_pin.split("==")[1]
    assert importlib.metadata.version("ray") == ray_version
    extra = _llm_extra()
    assert "vllm" in extra and vllm_version not in extra["vllm"], "Ray's extra now pins our vLLM: use it instead"
    batch = requirement_names(ROOT / "requirements-ray-llm.txt")
    assert "[llm]" not in batch["ray"], "ray[llm] would replace the worker's vLLM"
    assert "aiohttp" in batch, "ray.data.llm does not import without aiohttp"
    floor = re.search(r">=\s*([\d.]+)", extra["aiohttp"])
    assert floor is not None and floor.group(1) in batch["aiohttp"]
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert f"Ray {ray_version} with vLLM {vllm_version}" in deploy


def test_ray_data_llm_needs_aiohttp_beyond_ray_data() -> None:
    """With ray[data] alone (this environment), ray.data.llm fails on aiohttp: the reason
    requirements-ray-llm.txt exists."""
    done = subprocess.run([PY, "-c", "import ray.data.llm"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    if done.returncode == 0:
        pytest.skip("aiohttp is installed here: nothing to show")
    assert "No module named 'aiohttp'" in done.stderr
