"""The Space served in-process on a free loopback port, on the factory's demo board.

Offline: analytics and the Hub are switched off before gradio is imported, and login is
not built (it needs the Hub).
"""

from __future__ import annotations

import contextlib
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pytest

from evaluator.storage import DataDir
from space.app import build_app, launch
from space.tabs import SubmitOptions
from submissions import Queue, Settings, enqueue
from submissions.target import current_set
from tests.support.hub import ScriptedHub
from tests.support.results_factory import write_demo_board

GOOD_MODEL = "good-org/good-model"
FAILURE_REASON = '<img src=x onerror="alert(3)"> the model could not be loaded: <b>out of memory</b>'
SETTINGS = Settings(rate_limit=1000)


def seed_queue(data: DataDir) -> None:
    """One failed request (with a hostile reason), one running; the queue is then empty."""
    queue = Queue.local(data, SETTINGS)
    target = current_set(data)
    for spec in ("baseline:refusal", "baseline:template"):
        enqueue(queue, spec=spec, submitter="maintainer", target=target, maintainer=True)
    failing = queue.claim("worker-1")
    assert failing is not None
    queue.fail(failing, FAILURE_REASON, "RuntimeError")
    assert queue.claim("worker-2") is not None  # stays RUNNING


def submit_options() -> SubmitOptions:
    hub = ScriptedHub(ScriptedHub.good(GOOD_MODEL))
    return SubmitOptions(hub=hub, settings=SETTINGS, known_model_types=lambda: None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    data: DataDir
    demo: gr.Blocks


def serve(data: DataDir) -> Served:
    demo = build_app(data, enable_login=False, submit_options=submit_options())
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return Served(f"http://127.0.0.1:{port}/", data, demo)


@contextlib.contextmanager
def serve_demo(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Served]:
    """A launched Space over a fresh data directory with the demo results and a seeded queue."""
    data = DataDir.at(Path(tmp_path_factory.mktemp(name)) / "var")
    write_demo_board(data)
    seed_queue(data)
    app = serve(data)
    try:
        yield app
    finally:
        app.demo.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_demo(tmp_path_factory, "space") as app:
        yield app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Gradio's queue still uses pandas options that pandas 3 deprecates: not ours to fix.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"))
            item.add_marker(pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"))
