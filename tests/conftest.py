"""Fixtures shared across the test tree; helpers themselves live in tests/support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub_emulator import HubEmulator, point_client_at
from tests.support.openai_server import OpenAIServer
from tests.support.tiny_checkpoint import build_tiny_checkpoint


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh local OpenAI-compatible server (responder `echo`, no latency, no faults).

    Tests reconfigure it in place: `server.responder = ...`, `server.latency_s = ...`,
    `server.fail(...)`.
    """
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def hub_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubEmulator]:
    """A fresh loopback Hub (tests/support/hub_emulator.py) that huggingface_hub in this process and in
    subprocesses (they inherit HF_ENDPOINT, HF_TOKEN = the write token, HF_HUB_OFFLINE=0) talks to.

    Tests seed it (`create_repo`, `add_files`, `seed_model`) and break it (`down`, `slow`, `fail_next`).
    """
    with HubEmulator() as hub:
        point_client_at(hub, monkeypatch, cache_dir=str(tmp_path / "hf-cache"))
        yield hub


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama chat model (safetensors, chat template), built once per session.

    Shared across tests: copy it before changing any of its files.
    """
    pytest.importorskip("transformers", reason="the tiny checkpoint needs torch and transformers")
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-checkpoint") / "model")


@pytest.fixture(scope="session")
def tiny_checkpoint_no_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny model with no chat template, which the open-weight backends must refuse."""
    pytest.importorskip("transformers", reason="the tiny checkpoint needs torch and transformers")
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-checkpoint-no-template") / "model", chat_template=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under pytest-xdist (`make test` runs two workers), every test on the local Ray cluster
    # goes to one worker (`--dist loadgroup`): one Ray instance, started once, never two
    # competing for the same two cores. Without xdist (`-p no:xdist`) the marker is unknown to
    # --strict-markers, and there is one process anyway.
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))
