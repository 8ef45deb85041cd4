"""An audit killed with SIGKILL mid-file resumes with the same command and ends with the same
report as an audit that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluator.logaudit.run import audits_dir
from evaluator.storage import DataDir
from tests.support.log_generator import write_log

ROOT = Path(__file__).resolve().parents[3]


def _command(log: Path, data: Path) -> list[str]:
    return [sys.executable, "-m", "evaluator", "audit-logs", str(log), "--data", str(data), "--review-sample", "30"]


def _report(data: Path) -> dict[str, object]:
    (run,) = audits_dir(DataDir(data)).iterdir()
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    report.pop("finished_at")
    return report


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_sigkill_mid_file_then_resume_gives_the_same_report(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / f"log.{fmt}"
    write_log(log, 8_000, seed=5, fmt=fmt)
    env = os.environ | {"PYTHONPATH": str(ROOT)}

    whole = tmp_path / "whole"
    subprocess.run(_command(log, whole), env=env, check=True, capture_output=True)

    broken = tmp_path / "broken"
    proc = subprocess.Popen(_command(log, broken), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list(broken.glob("runs/log_audits/*/parts/*.jsonl"))
            if len(parts) >= 3:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the audit finished before it could be killed"
    (run,) = audits_dir(DataDir(broken)).iterdir()
    done = sorted(p.name for p in (run / "parts").glob("*.jsonl"))
    assert 3 <= len(done) < 16 and not (run / "report.json").exists(), done
    before = {name: (run / "parts" / name).stat().st_mtime_ns for name in done}

    subprocess.run(_command(log, broken), env=env, check=True, capture_output=True)
    # The parts finished before the kill were kept, not redone.
    rewritten = [name for name, mtime in before.items() if (run / "parts" / name).stat().st_mtime_ns != mtime]
    assert not rewritten
    resumed, unbroken = _report(broken), _report(whole)
    assert resumed == unbroken, {k: (resumed[k], unbroken.get(k)) for k in resumed if resumed[k] != unbroken.get(k)}
    assert (run / "review_sample.jsonl").read_bytes() == next(audits_dir(DataDir(whole)).iterdir()).joinpath(
        "review_sample.jsonl"
    ).read_bytes()
