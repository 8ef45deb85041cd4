"""Issue 17.3: login is real OAuth or it is off, never Gradio's mock sign-in.

Gradio mounts real OAuth routes only when SYSTEM=spaces and SPACE_ID are both set
(gradio.utils.get_space); otherwise a LoginButton brings its mock, which signs every visitor
in as the owner of the machine's HF_TOKEN, a maintainer. SPACE_ID alone must not turn it on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.storage import DataDir
from space.app import build_app

ROOT = Path(__file__).resolve().parents[2]


def _mock_routes(demo: object) -> bool:
    return bool(getattr(demo, "expects_oauth", False))


def test_space_id_without_a_real_space_is_refused_not_mocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPACE_ID", "someone/leaderboard")
    monkeypatch.delenv("SYSTEM", raising=False)
    with pytest.raises(ValueError, match="SYSTEM=spaces") as refused:
        demo = build_app(DataDir.at(tmp_path / "var"))
        # What it did before: a LoginButton, so Gradio's launch mounts the mock sign-in.
        assert not _mock_routes(demo), "a LoginButton outside a real Space mounts Gradio's mock sign-in"
    assert "\n" not in str(refused.value)


def test_login_asked_for_outside_a_real_space_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SYSTEM", raising=False)
    with pytest.raises(ValueError, match="mock sign-in"):
        demo = build_app(DataDir.at(tmp_path / "var"), enable_login=True)
        assert not _mock_routes(demo)


def test_a_local_run_has_no_sign_in_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SYSTEM", raising=False)
    assert not _mock_routes(build_app(DataDir.at(tmp_path / "var")))


def test_the_space_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CRISIS_", "SYSTEM", "GRADIO_"))},
        "PYTHONPATH": str(ROOT),
        "SPACE_ID": "someone/leaderboard",
        "CRISIS_DATA": str(tmp_path / "var"),
        "CRISIS_DEMO": "0",
        "GRADIO_SERVER_PORT": "0",
        "HF_TOKEN": "hf_the_owners_token",
    }
    try:
        out = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the Space started (with the mock sign-in) instead of refusing")
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and "SYSTEM=spaces" in lines[-1], out.stderr
    assert "Traceback" not in out.stderr
