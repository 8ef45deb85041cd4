"""The Space served in-process on a free loopback port, on the factory's demo board; the
entry point `python app.py` run as a server process; raw calls to Gradio's endpoints; the
headless browser the page tests share.

Offline: analytics and the Hub are switched off before gradio is imported, and login is
not built (it needs the Hub).
"""

from __future__ import annotations

import contextlib
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest

from evaluator.storage import DataDir
from leaderboard.display import DEFAULT_COLUMNS
from space.app import build_app, launch
from space.tabs import SubmitOptions
from submissions import Queue, Settings, enqueue
from submissions.target import current_set
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hub import ScriptedHub
from tests.support.results_factory import write_demo_board

REPO = Path(__file__).resolve().parents[2]
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


def serve(data: DataDir, **build: Any) -> Served:
    """The app over `data` launched in this process, with the scripted Hub and no login;
    `build` passes further build_app arguments (admin access, the demo board...)."""
    options: dict[str, Any] = {"enable_login": False, "submit_options": submit_options(), **build}
    demo = build_app(data, **options)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return Served(f"http://127.0.0.1:{port}/", data, demo)


@contextlib.contextmanager
def serving(data: DataDir, **build: Any) -> Iterator[Served]:
    app = serve(data, **build)
    try:
        yield app
    finally:
        app.demo.close()


@contextlib.contextmanager
def serve_demo(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Served]:
    """A launched Space over a fresh data directory with the demo results and a seeded queue."""
    data = DataDir.at(Path(tmp_path_factory.mktemp(name)) / "var")
    write_demo_board(data)
    seed_queue(data)
    with serving(data) as app:
        yield app


def served_fixture(name: str) -> Any:
    """A session fixture `served`: a Space of its own for the test folder that declares it
    (the attack suite's failed token guesses must not slow the page tests' maintainers)."""

    @pytest.fixture(scope="session", name="served")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
        with serve_demo(tmp_path_factory, name) as app:
            yield app

    return fixture


def quiet_gradio_warnings(folder: Path) -> Callable[[list[pytest.Item]], None]:
    """A pytest_collection_modifyitems hook for the tests under `folder`."""

    def hook(items: list[pytest.Item]) -> None:
        # Gradio's queue still uses pandas options that pandas 3 deprecates: not ours to fix.
        for item in items:
            if folder in Path(str(item.path)).parents:
                item.add_marker(pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"))
                item.add_marker(pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"))

    return hook


served = served_fixture("space")
pytest_collection_modifyitems = quiet_gradio_warnings(Path(__file__).parent)


# ---------------------------------------------------------------------------------------
# Calls as anyone can make them, without gradio_client


def leaderboard_values(search: str = "", *, columns: list[str] | None = None, limit: int = 100) -> list[Any]:
    """The 15 inputs of `/leaderboard`, in order, as a plain HTTP client sends them."""
    shown = columns if columns is not None else [c for c in DEFAULT_COLUMNS if c not in ("rank", "model")]
    return ["", "overall", "all", search, [], [], None, None, 0, 100, True, shown, "rank", False, limit]


def event_index(url: str, api_name: str) -> int:
    """An event's index from the page config a visitor downloads (private events too)."""
    config = httpx.get(url + "config", timeout=30).json()
    found = [d["id"] for d in config["dependencies"] if d.get("api_name") == api_name]
    assert len(found) == 1, api_name
    return int(found[0])


def raw_call(url: str, fn_index: int, values: list[Any], cookies: dict[str, str] | None = None) -> dict[str, Any]:
    """Post straight to Gradio's queue, as the page does; the completed message."""
    session = uuid.uuid4().hex
    body = {"data": values, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    with httpx.Client(base_url=url, cookies=cookies, timeout=30) as client:
        joined = client.post("gradio_api/queue/join", json=body)
        assert joined.status_code == 200, joined.text
        with client.stream("GET", f"gradio_api/queue/data?session_hash={session}") as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        return dict(message)
    raise AssertionError("the queue never completed the call")


def api_call(url: str, api_name: str, values: list[Any]) -> tuple[str, str]:
    """Gradio's two-step REST call (`POST /gradio_api/call/NAME`, then its event stream):
    the last event's name and data."""
    posted = httpx.post(url + f"gradio_api/call/{api_name}", json={"data": values}, timeout=10)
    assert posted.status_code == 200, posted.text
    event_id = posted.json()["event_id"]
    stream = httpx.get(url + f"gradio_api/call/{api_name}/{event_id}", timeout=30).text
    events = [line[6:].strip() for line in stream.splitlines() if line.startswith("event:")]
    data = [line[5:].strip() for line in stream.splitlines() if line.startswith("data:")]
    assert events and data, stream
    return events[-1], data[-1]


# ---------------------------------------------------------------------------------------
# `python app.py` as a server process, its log in a file


@dataclass
class AppProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM, as `make run` or a Space stops it; the exit code."""
        self.proc.terminate()
        return self.proc.wait(timeout=20)


@contextlib.contextmanager
def app_process(folder: Path, env: Mapping[str, str] | None = None, start_s: float = 90.0) -> Iterator[AppProcess]:
    """`python app.py` on a free port over `folder`/var, with nothing seeded and no worker
    unless `env` says otherwise; yields once the page answers."""
    port = free_port()
    settings = {
        "CRISIS_DATA": str(folder / "var"),
        "CRISIS_SEED_BASELINES": "0",
        "CRISIS_DEMO": "0",
        "CRISIS_EMBEDDED_WORKER": "0",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    log = folder / "app.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=REPO, env=os.environ | settings | dict(env or {}), stdout=sink, stderr=sink
        )
    running = AppProcess(f"http://127.0.0.1:{port}/", proc, log)
    try:
        deadline = time.monotonic() + start_s
        while True:
            assert proc.poll() is None, running.output()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(running.url, timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "app.py did not start"
            time.sleep(0.3)
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)


# ---------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (Playwright's sync API takes the main thread's
    event loop while it runs, so it must not outlive the module into unrelated tests)."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
