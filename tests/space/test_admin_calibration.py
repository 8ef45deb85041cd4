"""The admin panel's calibration table names each report's track: a conversation report's
figures (C1-C5, pooled over five questions) never pass for single-turn ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.calibration import calibration_reports
from evaluator.cli import main
from evaluator.storage import DataDir
from space.admin_panel import calibration_table

SHIPPED = Path(__file__).resolve().parents[2] / "evaluator" / "calibration_sets"


def test_single_turn_and_conversation_reports_are_told_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = DataDir.at(str(tmp_path))
    common = ["--judge", "heuristic", "--variants", "1", "--quiet", "--data", str(data.root)]
    assert main(["calibrate", "--ratings", str(SHIPPED / "heuristic-ratings.jsonl"), *common]) == 0
    conversations = ["--ratings", str(SHIPPED / "conversation-ratings.jsonl"), "--personas", "public-personas"]
    assert main(["calibrate", *conversations, *common]) == 0, capsys.readouterr().err

    reports = {r.get("track", "single_turn"): r for r in calibration_reports(data)}
    table = calibration_table(data)
    assert list(table.columns[:3]) == ["Date", "Track", "Judge"]
    rows = {row["File"]: row for row in table.to_dict("records")}
    assert rows[reports["single_turn"]["file"]]["Track"] == "single turn"
    conversation = rows[reports["conversation"]["file"]]
    assert conversation["Track"] == "conversation (C1-C5)"
    assert conversation["n"] == str(reports["conversation"]["overall"]["n"])
    assert rows[reports["single_turn"]["file"]]["n"] != conversation["n"]
