"""Bad input to `audit-logs`: one line on stderr, exit 2, and nothing written anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.cli import main

ROOT = Path(__file__).resolve().parents[3]
GOOD = {"id": "a", "turns": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "lines", "extra", "message"),
    [
        ("log.jsonl", [json.dumps(GOOD), "{broken"], [], "line 2: not valid JSON"),
        ("log.jsonl", [json.dumps(GOOD), json.dumps(GOOD)], [], "line 2: the conversation id repeats"),
        ("log.jsonl", [json.dumps({"id": "b", "turns": [{"role": "robot", "content": "x"}]})], [], "unknown role"),
        ("log.csv", ["id,turn_index,role,text", "a,0,user,x"], [], "no 'conversation_id' column"),
        (
            "log.csv",
            ["conversation_id,turn_index,role,text", "a,0,user,x", "b,0,user,y", "a,1,user,z"],
            [],
            "contiguous",
        ),
        ("log.txt", [json.dumps(GOOD)], [], "give --format jsonl or --format csv"),
        ("log.jsonl", [json.dumps(GOOD)], ["--review-sample", "-1"], "--review-sample must be"),
        ("log.jsonl", [json.dumps(GOOD)], ["--judge", "nonsense:spec"], ""),
        ("log.jsonl", [], [], "no conversation in the file"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, lines: list[str], extra: list[str], message: str
) -> None:
    log = _write(tmp_path / name, lines)
    data = tmp_path / "data"
    assert main(["audit-logs", str(log), "--data", str(data), "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not data.exists()
    assert "hello" not in err


def test_missing_file_and_unknown_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["audit-logs", str(tmp_path / "absent.jsonl"), "--data", str(data)]) == 2
    assert "no such file" in capsys.readouterr().err
    labels = _write(tmp_path / "labels.jsonl", ['{"id": "a", "at_risk": true}'])
    assert main(["audit-logs", "--reviewed", str(labels), "la-0123456789abcdef", "--data", str(data)]) == 2
    assert "no log audit la-0123456789abcdef" in capsys.readouterr().err
    assert not data.exists()


def test_the_token_is_never_taken_from_argv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _write(tmp_path / "log.jsonl", [json.dumps(GOOD)])
    data = tmp_path / "data"
    assert main(["audit-logs", str(log), "--publish-aggregate", "--admin-token", "x", "--data", str(data)]) == 2
    assert "--admin-token is refused" in capsys.readouterr().err
    assert not data.exists()


def test_the_verb_is_registered_with_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "evaluator", "audit-logs", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in ("--judge", "--format", "--review-sample", "--reviewed", "--publish-aggregate", "--data", "--store"):
        assert flag in out
