"""Bad request records (issue 10, point 6): reported by name and reason, never silently dropped,
never quoted, and never hiding the good ones."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.storage import DataDir
from submissions import Queue, Settings, current_set, enqueue

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary-7f3a-do-not-print"


def _seed(data: DataDir) -> str:
    queue = Queue.local(data, Settings.from_env())
    good = enqueue(queue, spec="baseline:refusal", submitter="maintainer", target=current_set(data), maintainer=True)
    text = (data.requests / f"{good.id}.json").read_text(encoding="utf-8")
    record = json.loads(text)
    (data.requests / "truncated.json").write_text(text[: len(text) // 2] + CANARY, encoding="utf-8")
    (data.requests / "unknown-status.json").write_text(
        json.dumps({**record, "id": "unknown-status", "status": "EXPLODED", "note": CANARY}), encoding="utf-8"
    )
    (data.requests / "bad-id.json").write_text(json.dumps({**record, "id": "../../etc", "note": CANARY}))
    return good.id


def test_listing_keeps_the_good_record_and_names_each_bad_one(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    good = _seed(data)
    queue = Queue.local(data, Settings.from_env())
    assert [r.id for r in queue.records()] == [good]
    bad = queue.unreadable()
    assert len(bad) == 3
    by_file = {line.split(":", 1)[0]: line for line in bad}
    assert set(by_file) == {"requests/truncated.json", "requests/unknown-status.json", "requests/bad-id.json"}
    assert "not valid JSON" in by_file["requests/truncated.json"]
    assert "invalid status" in by_file["requests/unknown-status.json"]
    assert by_file["requests/bad-id.json"].endswith("invalid id")
    assert not any(CANARY in line for line in bad)


def test_submissions_list_reports_them(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    good = _seed(data)
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "submissions", "list", "--data", str(data.root)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert good in done.stdout
    assert "3 request record(s) could not be read" in done.stderr
    assert "requests/truncated.json" in done.stderr and CANARY not in done.stderr + done.stdout


def test_an_idle_worker_logs_them_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from evaluator.worker import Worker, WorkerConfig

    data = DataDir.at(tmp_path / "var")
    good = _seed(data)
    (data.requests / f"{good}.json").unlink()  # nothing claimable: the worker is idle
    worker = Worker(WorkerConfig(data=str(data.root), name="w", bootstrap_rounds=20))
    with caplog.at_level(logging.WARNING, logger="evaluator.worker"):
        assert worker.tick() == "idle"
    skipped = [r.getMessage() for r in caplog.records if "request record skipped" in r.getMessage()]
    assert len(skipped) == 3 and not any(CANARY in m for m in skipped)
    caplog.clear()
    worker._unreadable_checked = float("-inf")
    with caplog.at_level(logging.WARNING, logger="evaluator.worker"):
        assert worker.tick() == "idle"
    assert not [r for r in caplog.records if "request record skipped" in r.getMessage()]


def test_the_admin_panel_header_names_each_bad_record_without_quoting_it(tmp_path: Path) -> None:
    from space.admin import TOKEN_ENV, AdminAccess
    from space.admin_panel import AdminActions

    data = DataDir.at(tmp_path / "var")
    good = _seed(data)
    actions = AdminActions(data, AdminAccess(env={TOKEN_ENV: "a-token"}), Settings.from_env())
    opened = actions.sign_in("a-token", "ops", None, None)
    assert opened[0].visible is True
    header = opened[3].replace("\\", "")  # escaped Markdown, read as the page shows it
    assert "3 request record(s) could not be read" in header
    for name, why in (
        ("requests/truncated.json", "not valid JSON"),
        ("requests/unknown-status.json", "invalid status"),
        ("requests/bad-id.json", "invalid id"),
    ):
        assert f"{name}: {why}" in header, name
    assert CANARY not in opened[3] and CANARY not in header
    assert good in opened[5].to_csv()  # the good request is still listed for the maintainer
