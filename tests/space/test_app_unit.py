"""The Space's pure helpers and its build, without a server or a browser."""

from __future__ import annotations

import json

import gradio as gr
import pandas as pd
import pytest

from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.storage import DataDir
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from space.about import about_markdown, calibration_section
from space.app import build_app
from space.formatting import board_choices, pivot_styler, status_markdown, table_value
from tests.support.results_factory import RunSpec, write_demo_board, write_run


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
    for needle in ("R1", "Y3", "K1", "Q4", "Wilson", "MOVER-Wilson", "held-out set is private", "bibtex"):
        assert needle in text
    assert "python -m leaderboard table" in text
    assert "No model judge has been calibrated here yet" in calibration_section(None)
    data = DataDir.at(str(tmp_path))
    assert "No model judge has been calibrated here yet" in calibration_section(data)
    folder = data.public / "calibration"
    folder.mkdir(parents=True)
    figures = {
        "n": 120,
        "quadratic_kappa": 0.8123,
        "harmful_recall": 0.9,
        "harmful_precision": 0.75,
        "within_one": 0.95,
        "mean_signed_difference": 0.12,
    }
    report = {"kind": "judge-calibration", "raters": 2, "pairs": 120, "overall": figures}
    official = report | {"judge": "j<b>", "official": True, "created_at": "2025-03-02T10:00:00+00:00"}
    (folder / "official.json").write_text(json.dumps(official))
    newer_heuristic = report | {"judge": "heuristic", "official": False, "created_at": "2025-04-01T10:00:00+00:00"}
    (folder / "heuristic.json").write_text(json.dumps(newer_heuristic))
    section = calibration_section(data)
    for shown in ("0.81", "90%", "75%", "95%", "+0.12", "| 120 |", "2025-03-02", "j&lt;b&gt;"):
        assert shown in section, shown
    assert "heuristic" not in section  # the official judge's report, not the newest of any judge


def test_status_says_which_version_stands_in_for_a_newer_one(tmp_path: object) -> None:
    data = DataDir.at(str(tmp_path))
    for i in range(3):
        write_run(data, RunSpec(f"old/{i}", set_version="v0001"))
    write_run(data, RunSpec("new/0", set_version="v0002"))
    board = Leaderboard(ResultStore(data), min_models=3)
    result = board.query(Filters())
    text = status_markdown(result)
    assert "v0002, has 1 of the 3 models needed" in text.replace("\\", "")
    assert "Older set version" not in text  # the fallback line replaces the generic one
    current, fallback = board.current()
    assert board_choices(board.boards(), current, fallback)[0][0].endswith("until v0002 has 3 models")


def test_the_table_value_keeps_numbers_and_shows_compact_strings() -> None:
    cells = {
        "rank": ["1–2", "ref.", None],
        "model": ["acme/a", "baseline:refusal", "x/<b>y</b>"],
        "params_b": [7.0, None, 0.14],
        "harm_rate": [12.345, 0.0, None],
        "mean_level": [4.5, 3.0, None],
        "detection_macro_f1": [0.8, None, 0.125],
        "n": [104, 104, None],
    }
    value = table_value(cells)
    assert value["headers"][:2] == ["Rank (95%)", "Model"]
    # gradio_client users get the numbers; the page shows the strings beside them.
    assert value["data"][0] == ["1–2", "acme/a", 7.0, 12.345, 4.5, 0.8, 104]
    shown = value["metadata"]["display_value"]
    assert shown[0] == ["1–2", "acme/a", "7", "12.3", "4.50", "0.80", "104"]
    assert shown[1] == ["ref.", "baseline:refusal", "—", "0.0", "3.00", "—", "104"]
    assert shown[2] == ["—", "x/<b>y</b>", "0.14", "—", "—", "0.12", "—"]
    assert table_value({"rank": [], "model": []}) == {"headers": ["Rank (95%)", "Model"], "data": [], "metadata": None}
    # It is the Dataframe's own serialised form, so the event can skip Gradio's postprocess.
    component = gr.Dataframe(datatype=["str"] * 7)
    assert component.postprocess(value).model_dump() == value
    empty = table_value({"rank": [], "model": []})
    assert component.postprocess(empty).model_dump() == empty


@pytest.mark.parametrize("elem_id", ["category", "talk-category"])  # the single-turn and Conversations tabs
def test_the_category_dropdown_shows_the_tables_plain_names(tmp_path: object, elem_id: str) -> None:
    from leaderboard.plots import category_name
    from leaderboard.query import CATEGORY_CHOICES

    demo = build_app(DataDir.at(str(tmp_path)), enable_login=False)
    [dropdown] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id]
    shown = [(str(label), str(value)) for label, value in dropdown.choices]
    # The values stay the protocol's keys (the API and links use them); the labels are the
    # names the pivot table's headers and the plots use.
    assert [value for _, value in shown] == list(CATEGORY_CHOICES)
    assert [label for label, _ in shown] == [category_name(c) for c in CATEGORY_CHOICES]
    assert not any("_" in label or "<br>" in label for label, _ in shown)
    assert ("Self-harm", "self_harm") in shown and ("Overall", "overall") in shown


def test_the_citation_has_no_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    local = about_markdown(None)
    assert "OWNER/NAME" not in local and "huggingface.co/spaces/" not in local
    assert "Add the address where you read these results" in local
    monkeypatch.setenv("SPACE_ID", "acme/crisis-board")
    hosted = about_markdown(None)
    assert "url          = {https://huggingface.co/spaces/acme/crisis-board}," in hosted and "OWNER" not in hosted
    monkeypatch.setenv("SPACE_ID", "not an id}\n@misc{x")
    assert "not an id" not in about_markdown(None)
