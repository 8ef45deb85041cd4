"""`python -m submissions` as a user runs it: exit codes, one-line errors, listings."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from submissions.cli import main
from tests.submissions.conftest import snapshot

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-admin-token"


def _env(env: dict[str, str] | None) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_") and k != "USER"}
    full.update({"HF_HUB_OFFLINE": "1", "CRISIS_ADMIN_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)})
    full.update(env or {})
    return full


def _argv(args: tuple[str, ...], data: Path, user: str | None) -> list[str]:
    return [*args, "--data", str(data), *(["--user", user] if user else [])]


def run(
    *args: str, data: Path, user: str | None = "alice", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in its own interpreter, exactly as a user runs it."""
    argv = [sys.executable, "-m", "submissions", *_argv(args, data, user)]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=_env(env), timeout=60)


def call(
    *args: str, data: Path, user: str | None = "alice", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The same entry point in this process: most cases, without paying an interpreter start each.

    Only for inputs that never reach the Hub (huggingface_hub may be imported here already,
    without HF_HUB_OFFLINE).
    """
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(_env(env))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(_argv(args, data, user))
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def as_maintainer(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return call(*args, "--maintainer", data=data, user="boss")  # the token from $CRISIS_ADMIN_TOKEN


def assert_one_line_error(out: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert out.returncode == code, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "var"


def test_help() -> None:
    out = subprocess.run([sys.executable, "-m", "submissions", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for verb in ("submit", "list", "show", "cancel", "retry", "enqueue", "request-api", "approve", "reject"):
        assert verb in out.stdout
    out = call("submit", "--help", data=ROOT / "var")
    assert out.returncode == 0 and "--model" in out.stdout and "--revision" in out.stdout
    assert "--precision" in out.stdout and "--data" in out.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("submit", "--model", "../../etc/passwd"), "exactly one '/'"),
        (("submit", "--model", "org/<script>"), "the character '<'"),
        (("submit", "--model", "org/na\u202eme"), "U+202E"),
        (("submit", "--model", "a" * 10_000), "too long"),
        (("submit", "--model", "org/name", "--revision", "../x"), "revision"),
        (("submit", "--model", "org/name", "--precision", "int3"), "invalid choice"),
        (("submit",), "--model"),
        (("show", "../../etc/passwd"), "not a request id"),
        (("show", "20250101-000000-deadbeef"), "no request"),
        (("cancel", "nope"), "no request"),
        (("retry", "nope"), "only maintainers"),
        (("enqueue", "--spec", "baseline:refusal"), "only maintainers"),
        (("bogus",), "invalid choice"),
        (("request-api", "--model", "gpt-x", "--base-url", "https://k:sk-1@api.example.com/v1"), "credentials"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(data: Path, args: tuple[str, ...], fragment: str) -> None:
    line = assert_one_line_error(call(*args, data=data))
    assert fragment in line
    assert "sk-1" not in line
    assert snapshot(data) == {}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("submit", "--model", "org/na\u202eme\x01"), "U+202E"),
        (("show", "../../etc/passwd"), "not a request id"),
        (("bogus",), "invalid choice"),
        (("submit",), "--model"),
    ],
)
def test_bad_input_in_a_real_process(data: Path, args: tuple[str, ...], fragment: str) -> None:
    line = assert_one_line_error(run(*args, data=data))
    assert fragment in line
    assert snapshot(data) == {}


def test_submit_needs_a_user(data: Path) -> None:
    # A terminal has no sign-in: the CLI asks for --user, never for a Hugging Face sign-in.
    for verb in (("submit", "--model", "org/name"), ("request-api", "--model", "m", "--base-url", "http://x/v1")):
        error = assert_one_line_error(call(*verb, data=data, user=None))
        assert "--user NAME" in error and "sign in" not in error


def test_wrong_admin_token_is_refused(data: Path, tmp_path: Path) -> None:
    guess = tmp_path / "guess.txt"
    guess.write_text("guess\n")
    out = call("enqueue", "--spec", "baseline:refusal", "--maintainer", "--admin-token-file", str(guess), data=data)
    assert "admin token" in assert_one_line_error(out)
    out = call("enqueue", "--spec", "baseline:refusal", "--maintainer", data=data, env={"CRISIS_ADMIN_TOKEN": ""})
    assert "admin token" in assert_one_line_error(out)
    right = tmp_path / "token.txt"
    right.write_text(TOKEN + "\n")
    out = call("enqueue", "--spec", "baseline:refusal", "--maintainer", "--admin-token-file", str(right), data=data)
    assert out.returncode == 0, out.stderr


def test_a_token_on_the_command_line_is_refused_even_when_right(data: Path) -> None:
    out = call("enqueue", "--spec", "baseline:refusal", "--maintainer", "--admin-token", TOKEN, data=data)
    line = assert_one_line_error(out)
    assert "--admin-token is refused" in line and "ps" in line and TOKEN not in line
    assert snapshot(data) == {}


def test_submit_offline_fails_fast_and_writes_nothing(data: Path) -> None:
    line = assert_one_line_error(run("submit", "--model", "org/name", data=data), code=1)
    assert line.startswith("error: cannot reach the Hugging Face Hub")
    assert snapshot(data) == {}


def test_queue_lifecycle_through_the_cli(data: Path) -> None:
    out = run("list", data=data)
    assert out.returncode == 0 and out.stdout.strip() == "no requests"

    out = as_maintainer("enqueue", "--spec", "baseline:refusal", data=data)
    assert out.returncode == 0, out.stderr
    baseline_id = out.stdout.split(":")[0]
    assert "queued at position 1" in out.stdout

    out = call("request-api", "--model", "gpt-x", "--base-url", "https://api.example.com/v1", data=data)
    assert out.returncode == 0, out.stderr
    api_id = out.stdout.split(":")[0]

    out = run("list", data=data)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "POS", "MODEL", "REV", "SUBMITTER", "SUBMITTED", "REASON"]
    assert lines[1].split()[:4] == [baseline_id, "PENDING", "1", "baseline:refusal"]
    assert lines[2].split()[:3] == [api_id, "PENDING_APPROVAL", "openai:gpt-x"]

    assert "only maintainers" in assert_one_line_error(call("approve", api_id, data=data))
    out = as_maintainer("approve", api_id, data=data)
    assert out.returncode == 0 and "PENDING at position 2" in out.stdout

    out = call("cancel", baseline_id, data=data)
    assert "only the submitter" in assert_one_line_error(out)
    out = call("cancel", api_id, "--reason", "changed my mind", data=data)
    assert out.returncode == 0 and "CANCELLED" in out.stdout

    out = run("show", api_id, data=data)
    shown = json.loads(out.stdout)
    assert shown["status"] == "CANCELLED" and shown["reason"] == "changed my mind" and shown["position"] is None

    out = as_maintainer("retry", api_id, data=data)
    assert out.returncode == 0 and "PENDING" in out.stdout

    out = run("list", "--json", "--status", "PENDING", data=data)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["id"], r["position"]) for r in rows] == [(baseline_id, 1), (api_id, 2)]

    # Public files only under requests/; nothing else public was written.
    assert {p.parent.name for p in data.joinpath("requests").iterdir()} == {"requests"}
    assert not (data / "results").exists()


def test_reject_needs_a_reason(data: Path) -> None:
    out = call("request-api", "--model", "gpt-x", "--base-url", "https://api.example.com/v1", data=data)
    api_id = out.stdout.split(":")[0]
    assert_one_line_error(as_maintainer("reject", api_id, data=data))
    out = as_maintainer("reject", api_id, "--reason", "no public endpoint", data=data)
    assert out.returncode == 0 and "REJECTED" in out.stdout
