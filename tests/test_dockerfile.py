"""The worker image: built on the vLLM release requirements-gpu.txt pins, starting the worker.

It cannot be built here (no Docker, no GPU); these check what can go stale without a build.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "worker-entrypoint.sh"


def test_the_base_image_is_the_pinned_vllm() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    pin = re.search(r"^vllm==(\S+)$", (ROOT / "requirements-gpu.txt").read_text(), flags=re.MULTILINE)
    assert pin is not None
    assert base == f"vllm/vllm-openai:v{pin.group(1)}"
    # The worker's own set, never the Space's (Gradio's pillow cap conflicts with vLLM 0.33).
    assert "-r requirements-worker.txt -c /tmp/image-pins.txt -c requirements-gpu.txt" in dockerfile
    assert "requirements.txt " not in dockerfile.replace("-worker.txt", "")
    for copied in re.findall(r"^COPY\s+(\S+)", dockerfile, flags=re.MULTILINE):
        assert (ROOT / copied).exists(), copied


def run_entrypoint(*args: str) -> str:
    # A stand-in `python` on PATH shows what the entry point would run.
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": f"{ROOT / 'tests' / 'support' / 'fakebin'}:/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_worker_arguments_go_to_the_worker_and_a_command_runs_as_given() -> None:
    assert (
        run_entrypoint("--store", "hub:o/p", "--until-idle")
        == "python -m evaluator worker --store hub:o/p --until-idle"
    )
    assert run_entrypoint() == "python -m evaluator worker"
    assert run_entrypoint("echo", "as", "given") == "as given"
