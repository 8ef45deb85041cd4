"""The Space served in-process on a free loopback port, on the factory's demo board.

Offline: analytics and the Hub are switched off before gradio is imported, and login is
not built (it needs the Hub).
"""

from __future__ import annotations

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
from tests.support.results_factory import write_demo_board


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
    demo = build_app(data, enable_login=False)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return Served(f"http://127.0.0.1:{port}/", data, demo)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = DataDir.at(Path(tmp_path_factory.mktemp("space")) / "var")
    write_demo_board(data)
    app = serve(data)
    try:
        yield app
    finally:
        app.demo.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Gradio's queue still uses pandas options that pandas 3 deprecates: not ours to fix.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"))
            item.add_marker(pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"))
