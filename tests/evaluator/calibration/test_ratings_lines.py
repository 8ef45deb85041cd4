"""A ratings JSONL file's bad lines are one-line errors naming the line (read through storage.iter_jsonl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.calibration import CalibrationError, load_ratings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('\n{"item_id": \n', r"^r\.jsonl line 2: invalid JSON \(Expecting value at column 13\)$"),
        ("[" * 100_000 + "\n", r"^r\.jsonl line 1: invalid JSON \(nested too deeply\)$"),
        ("[1]\n", r"^r\.jsonl line 1: expected a JSON object$"),
    ],
)
def test_bad_lines(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalibrationError, match=message):
        load_ratings(path)
