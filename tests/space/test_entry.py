"""`python app.py`: seeds the baselines on a fresh data directory, honours GRADIO_SERVER_*."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from evaluator.storage import DataDir
from leaderboard.store import ResultStore
from leaderboard.view import Filters, Leaderboard
from tests.space.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def test_a_fresh_data_directory_gets_the_baselines(tmp_path: Path) -> None:
    from app import has_results, seed_baselines  # the repository root is on sys.path

    data = DataDir.at(tmp_path / "var")
    assert not has_results(data)
    seed_baselines(data)
    result = Leaderboard(ResultStore(data)).query(Filters())
    assert set(result.rows["model"]) == {"baseline:refusal", "baseline:template"}
    assert result.board is not None and result.board.set_name == "public-sample" and not result.board.official
    # They went through the real queue and worker: finished request records, publicly readable.
    from submissions import Queue, Settings

    records = Queue.local(data, Settings.from_env()).records()
    assert sorted((r.spec, r.status) for r in records) == [
        ("baseline:refusal", "FINISHED"),
        ("baseline:template", "FINISHED"),
    ]
    before = sorted(p.name for p in data.results.iterdir())
    seed_baselines(data)  # results exist: nothing is run again
    assert sorted(p.name for p in data.results.iterdir()) == before


def test_the_entry_point_serves_on_the_configured_address(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "CRISIS_DATA": str(tmp_path / "var"),
        "CRISIS_SEED_BASELINES": "0",
        "CRISIS_DEMO": "0",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else "exited"
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                if page.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "app.py did not start"
            time.sleep(0.3)
        assert "Crisis-Safety Leaderboard" in page.text
        # SIGTERM is a normal stop: exit 0, no traceback (what `make run` shows when stopped).
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
