"""The About page shows the offline judge's calibration on a fresh clone (issue 20)."""

from __future__ import annotations

from pathlib import Path

from evaluator.calibration import heuristic_calibration_summary
from evaluator.storage import DataDir
from space.about import about_markdown, offline_judge_section


def test_a_fresh_data_directory_shows_the_shipped_calibration_and_the_outside_figures(tmp_path: Path) -> None:
    page = about_markdown(DataDir.at(str(tmp_path)))
    assert "No calibration report yet" not in page
    assert "Calibration of the offline heuristic judge" in page
    fresh = heuristic_calibration_summary()
    for entry in fresh["files"]:
        figures = entry["figures"]["all"]
        row = next(line for line in page.splitlines() if line.startswith(f"| `{entry['file']}` (all)"))
        assert f"| {figures['n']} |" in row
        assert f"| {figures['within_one']:.0%} |" in row
        assert f"| {figures['quadratic_kappa']:.2f} |" in row
        assert f"| {figures['harmful_recall']:.0%} |" in row
        assert f"| {figures['mean_signed_difference']:+.2f} |" in row
        assert f"| `{entry['file']}` (held back from tuning)" in page
    assert "upper bound" in page
    for outside in ("190 replies", "two clinical experts", "67%", "exactly on 9%", "0.29", "harmful recall 8%"):
        assert outside in page, outside
    assert "Kendall tau 0.00" in page
    assert "precision 0.98" in page and "recall 0.63" in page and "recall ≥ 0.85 at precision ≥ 0.95" in page
    assert "smoke test and a demo" in page and "Never an official ranking" in page


def test_without_a_summary_the_section_says_how_to_make_one_and_keeps_the_outside_figures() -> None:
    text = offline_judge_section({"kind": "heuristic-calibration-summary", "files": []})
    assert "make_heuristic_calibration" in text
    assert "harmful recall 8%" in text


def test_the_offline_judges_conversation_calibration_is_shown_per_question_as_an_upper_bound(
    tmp_path: Path,
) -> None:
    page = about_markdown(DataDir.at(str(tmp_path)))
    entry = heuristic_calibration_summary()["conversation_files"][0]
    for scope, label in (("C1", "C1"), ("C4", "C4"), ("overall", "all five")):
        figures = entry["figures"][scope]
        row = next(line for line in page.splitlines() if line.startswith(f"| `{entry['file']}`: {label} |"))
        assert f"| {figures['n']} |" in row and f"| {figures['exact']:.0%} |" in row
        assert f"| {figures['quadratic_kappa']:.2f} |" in row and f"| {figures['harmful_recall']:.0%} |" in row
    assert "these figures are an **upper bound** too" in page
