"""What stood in a first-time terminal user's way (issue 23, points 6 and 9): typos answered
with the right word, a mistyped --data never created, counts in words, no sign-in asked of a
terminal, an API with nothing listening failing in seconds with its URL, and boards always
named."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluator.cli import main as evaluator_main
from evaluator.items import load_set
from evaluator.storage import DataDir
from evaluator.wording import counted
from leaderboard.cli import main as leaderboard_main
from leaderboard.query import Leaderboard
from leaderboard.store import ResultStore
from tests.support.results_factory import RunSpec, write_run

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "evaluator" / "sample_sets" / "public-sample.jsonl"


def test_a_judge_typo_is_answered_with_the_judge_it_resembles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "var"
    code = evaluator_main(
        ["run", "--model", "baseline:refusal", "--set", "public-sample", "--judge", "heuristc", "--data", str(data)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'heuristic'?" in err and len(err.strip().splitlines()) == 1
    assert not data.exists()
    code = evaluator_main(["run", "--model", "baselin:refusal", "--set", "public-sample", "--data", str(data)])
    assert code == 2 and "did you mean baseline:refusal?" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("evaluator", ["audit"]),
        ("evaluator", ["audit", "--no-save"]),
        ("leaderboard", ["table"]),
        ("leaderboard", ["boards"]),
        ("submissions", ["list"]),
    ],
)
def test_a_verb_that_only_reads_never_creates_a_mistyped_data_directory(
    tmp_path: Path, module: str, argv: list[str]
) -> None:
    typo = tmp_path / "vra"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")} | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", module, *argv, "--data", str(typo)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert not typo.exists(), done.stderr
    if module != "submissions":  # `list` on nothing is "no requests", created nowhere
        assert done.returncode == 2 and f"no data directory at {typo}" in done.stderr


def test_counts_are_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = DataDir.at(tmp_path / "var")
    assert (counted(1, "row"), counted(2, "row"), counted(0, "model")) == ("1 row", "2 rows", "0 models")
    write_run(data, RunSpec("org/only", categories=("self_harm",)))
    [board] = Leaderboard(ResultStore(data)).boards()
    assert board.label.endswith("· 1 model") and "1 models" not in board.label
    assert leaderboard_main(["ranking", "--data", str(data.root)]) == 0
    err = capsys.readouterr().err
    assert "1 of 1 model\n" in err and "1 models" not in err
    assert leaderboard_main(["export", "--data", str(data.root), "--out", str(data.root / "x.csv")]) == 0
    assert "wrote 2 result rows" in capsys.readouterr().err


def test_an_openai_model_with_nothing_listening_fails_in_seconds_naming_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # bound, not listening: every connect is refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        started = time.perf_counter()
        data = str(tmp_path / "var")
        argv = ["run", "--model", "openai:m", "--base-url", url, "--set", "public-sample", "--data", data]
        code = evaluator_main(argv)
        elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 1 and f"connection refused by {url}" in err
    assert elapsed < 10  # 208 requests; before: each first one climbed a 5-retry backoff (~20 s)


def test_a_set_file_named_items_jsonl_in_the_working_directory_gets_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `import ... --out items.jsonl` then `run --set items.jsonl`, as the README shows it,
    # made a board named " h878e65ebb016": the set's name came from a parent folder that a
    # relative path does not have.
    monkeypatch.chdir(tmp_path)
    lines = SAMPLE.read_text().splitlines()[:12]
    (tmp_path / "items.jsonl").write_text("\n".join(lines) + "\n")
    item_set = load_set("items.jsonl")
    assert item_set.name == "items"
    code = evaluator_main(["run", "--model", "baseline:refusal", "--set", "items.jsonl", "--data", "var", "--quiet"])
    assert code == 0
    capsys.readouterr()
    assert leaderboard_main(["boards", "--data", "var"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    key, label = line.split("\t")
    assert key.startswith("items|h") and label.startswith("items h") and not label.startswith(" ")
    # The sets layout still names a manifest-less version after its set's folder.
    folder = tmp_path / "sets" / "held" / "v0003"
    folder.mkdir(parents=True)
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n")
    assert load_set(folder / "items.jsonl").name == "held"
    assert json.loads(lines[0])["id"] in {i.id for i in item_set.items}


def test_a_board_of_rows_with_a_blank_set_name_is_still_named(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    write_run(data, RunSpec("org/old", categories=("self_harm",), set_name=""))
    [board] = Leaderboard(ResultStore(data)).boards()
    assert board.label.startswith("(unnamed set) ")


def test_import_messages_count_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "one.csv"
    source.write_text('text,label\n"I hurt myself again last night.",self-harm\n"Just a tired week.",bored\n')
    argv = ["import", str(source), "--out", str(tmp_path / "one.jsonl"), "--text-column", "text"]
    argv += ["--label-column", "label", "--map", "self-harm=self_harm"]
    assert evaluator_main([*argv, "--strict"]) == 2
    err = capsys.readouterr().err
    assert "imported 1 item, 1 row could not be mapped" in err and "1 row could not be mapped; nothing written" in err
    assert evaluator_main([*argv, "--max-rejected", "1"]) == 0
    assert "wrote 1 item to" in capsys.readouterr().out


def test_a_leaderboard_board_error_says_where_the_keys_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = DataDir.at(tmp_path / "var")
    write_run(data, RunSpec("org/only", categories=("self_harm",)))
    assert leaderboard_main(["ranking", "--data", str(data.root), "--board", "no|such"]) == 2
    assert "(python -m leaderboard boards lists them)" in capsys.readouterr().err
