"""`python -m evaluator converse` and `personas`: output, one-line errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluator.cli import main
from tests.evaluator.conversation.helpers import PERSONAS


def test_converse_public_personas_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "var"
    args = ["converse", "--model", "demo:attentive", "--personas", "public-personas", "--user-sim", "script"]
    assert main([*args, "--judge", "heuristic", "--max-turns", "3", "--data", str(data), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "public-personas@1" in out and "overall" in out and "C1" in out
    assert len(list((data / "results").glob("*.parquet"))) == 1
    assert len(list((data / "public" / "conversations").glob("*.jsonl"))) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--personas", "missing@v0001"], "no persona set named missing"),
        (["--personas", "public-personas", "--user-sim", "baseline:template"], "a baseline cannot play"),
        (["--personas", "public-personas", "--concurrency", "0"], "--concurrency and --batch-size"),
        (["--personas", "public-personas", "--user-sim", "nonsense"], "unknown model spec"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code = main(["converse", "--model", "demo:attentive", *extra, "--data", str(tmp_path / "var")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_personas_freeze_list_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in PERSONAS), encoding="utf-8")
    data = str(tmp_path / "var")
    assert main(["personas", "freeze", "held", "--from", str(source), "--data", data]) == 0
    assert main(["personas", "list", "--data", data]) == 0
    assert main(["personas", "show", "held", "--data", data]) == 0
    out = capsys.readouterr().out
    assert "held v0001: 3 personas (private)" in out and "held: 1 version, latest v0001" in out
    assert "disclosure: ambiguous 1, explicit 1, late 1" in out
    assert PERSONAS[0]["opening"] not in out  # counts only, never persona text
