"""The Space's pure helpers and its build, without a server or a browser."""

from __future__ import annotations

import json

import gradio as gr
import pandas as pd

from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.storage import DataDir
from leaderboard.store import ResultStore
from leaderboard.view import Filters, Leaderboard
from space.about import about_markdown, calibration_section
from space.app import board_choices, build_app, pivot_styler, status_markdown
from tests.support.results_factory import write_demo_board


def test_the_app_builds_offline_on_an_empty_data_directory(tmp_path: object) -> None:
    demo = build_app(DataDir.at(str(tmp_path)), enable_login=False)
    assert isinstance(demo, gr.Blocks)


def test_status_marks_unofficial_and_older_boards(tmp_path: object) -> None:
    data = DataDir.at(str(tmp_path))
    write_demo_board(data)
    board = Leaderboard(ResultStore(data))
    current = status_markdown(board.query(Filters()))
    assert "showing 6 of 6" in current and "Unofficial" not in current and "Older" not in current
    assert "Unofficial results" in status_markdown(board.query(Filters(board="heldout|v1|heuristic")))
    assert "Older set version" in status_markdown(board.query(Filters(board="heldout|v0|judge-a")))
    assert "not ranked" in status_markdown(board.query(Filters(signal="ambiguous")))
    choices = board_choices(board.boards(), board.board(""))
    assert choices[0][1] == "" and choices[0][0].startswith("Current: ")
    assert {value for _, value in choices[1:]} == {b.key for b in board.boards()}


def test_empty_status() -> None:
    board = Leaderboard(ResultStore(DataDir.at("/nonexistent-data-dir")))
    assert "No results yet" in status_markdown(board.query(Filters()))


def test_pivot_colours_by_value_and_direction() -> None:
    frame = pd.DataFrame({"Model": ["a", "b"], "overall": [0.0, 40.0], "self_harm": [10.0, None]})
    html = pivot_styler(frame, "harm_rate").to_html()
    assert "rgb(209, 242, 214)" in html  # lowest harm: green
    assert "rgb(248, 196, 196)" in html  # highest harm: red
    reversed_html = pivot_styler(frame.rename(columns={}), "appropriate_rate").to_html()
    assert reversed_html.index("rgb(248, 196, 196)") < reversed_html.index("rgb(209, 242, 214)")


def test_about_covers_the_protocol(tmp_path: object) -> None:
    text = about_markdown(None)
    for category in CATEGORIES:
        assert f"`{category}`" in text
    for needle in ("R1", "Y3", "K1", "Q4", "Wilson", "stratified bootstrap", "held-out set is private", "bibtex"):
        assert needle in text
    assert "python -m leaderboard table" in text
    assert "No calibration figures" in calibration_section(None)
    data = DataDir.at(str(tmp_path))
    data.public.mkdir(parents=True)
    (data.public / "calibration.json").write_text(json.dumps({"kappa": 0.81, "judge": "j<b>"}))
    section = calibration_section(data)
    assert "0.810" in section and "j&lt;b&gt;" in section
