"""Model page data, plots and exports of the shown table."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd

from evaluator.storage import DataDir, append_jsonl
from leaderboard.export import shown_table_csv
from leaderboard.model_page import failure_mode_counts, model_detail, public_examples
from leaderboard.plots import category_figure, safety_helpfulness_figure
from leaderboard.query import Filters, Leaderboard
from leaderboard.store import ResultStore
from tests.leaderboard.conftest import HOSTILE
from tests.support.results_factory import RunSpec, write_run


def test_detail_tables_cover_the_page(board: Leaderboard) -> None:
    current = board.board("")
    assert current is not None
    detail = model_detail(board, current, "acme/mid-70b")
    assert detail is not None
    assert detail.hub_url == "https://huggingface.co/acme/mid-70b"
    assert detail.per_category["Category"].iloc[0] == "overall"
    self_harm = detail.per_category.set_index("Category").loc["self_harm"]
    assert self_harm["Harm rate"] == "50.0%" and self_harm["Harm 95% CI"].startswith("[")
    assert "miss rate (crisis labelled no_crisis)" in set(detail.detection["Figure"])
    assert any(f.startswith("enabling: ") for f in detail.refusal["Figure"])
    assert detail.support["Group"].tolist()[:2] == ["cognitive", "affective"]
    meta = dict(zip(detail.metadata["Field"], detail.metadata["Value"], strict=True))
    assert meta["set"] == "heldout v1" and meta["official judge"] == "yes"
    assert meta["generation settings"] == "max_new_tokens=1024, temperature=0.0"
    assert detail.confusion is None
    assert board.board("") is not None and model_detail(board, current, "nobody/here") is None


def test_history_lists_every_board_and_marks_unofficial(board: Leaderboard) -> None:
    current = board.board("")
    assert current is not None
    detail = model_detail(board, current, "acme/safe-7b")
    assert detail is not None
    assert len(detail.history) == 4  # current, older run, older set version, heuristic
    assert any(j.endswith("(unofficial)") for j in detail.history["Judge"])


def test_a_published_confusion_matrix_is_shown(data: DataDir) -> None:
    confusion = {"labels": ["self_harm", "no_crisis"], "matrix": [[8, 2, 0], [1, 9, 1]]}
    write_run(
        data,
        RunSpec("a/x", categories=("self_harm", "no_crisis"), extra={"detection_confusion": json.dumps(confusion)}),
    )
    view = Leaderboard(ResultStore(data))
    current = view.board("")
    assert current is not None
    detail = model_detail(view, current, "a/x")
    assert detail is not None and detail.confusion is not None
    assert detail.confusion.iloc[0].tolist() == ["self_harm", 0, 8, 2]


def test_examples_come_only_from_public_set_records(data: DataDir) -> None:
    path = data.public / "examples" / "run1.jsonl"
    common = {"model": "a/x", "item_id": "i1", "category": "self_harm", "signal": "explicit", "level": 4}
    append_jsonl(
        path,
        [
            {**common, "set_visibility": "public", "prompt": "public text", "reply": "a kind reply"},
            {**common, "set_visibility": "private", "prompt": "SECRET held-out", "reply": "x"},
            {**common, "prompt": "unmarked", "reply": "y"},
            {**common, "model": "b/y", "set_visibility": "public", "prompt": "other model", "reply": "z"},
        ],
    )
    examples = public_examples(data, "a/x")
    assert examples["Message"].tolist() == ["public text"]
    assert public_examples(DataDir.at(data.root / "nowhere"), "a/x").empty


def test_plots_escape_names_and_draw_intervals(board: Leaderboard) -> None:
    current = board.board("")
    assert current is not None
    bars = category_figure(board.category_figures(current, [HOSTILE, "acme/mid-70b"]))
    names = [t.name for t in bars.data]
    assert "<" not in "".join(names) and "&lt;img" in names[0]
    assert bars.data[2].error_x.array is not None  # the second model's bars (each has a value trace)
    scatter = safety_helpfulness_figure(board.query(Filters(limit=0)).rows)
    texts = [t for trace in scatter.data for t in [*trace.text, *trace.customdata]]
    assert any("&lt;script&gt;" in t for t in texts) and not any("<script>" in t for t in texts)
    empty = category_figure(pd.DataFrame(columns=["model", "category", "value", "lo", "hi"]))
    assert empty.layout.annotations[0].text == "Choose models to compare"


def test_shown_table_csv_has_plain_names_links_and_no_formulas(board: Leaderboard) -> None:
    result = board.query(Filters(limit=0, search="=cmd; mid-70b; img"))
    display = board.display(result.rows, result.filters.columns)
    text = shown_table_csv(display, result.rows["model"].tolist(), result.rows["hub_url"].tolist())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["Model"] for r in rows} == {"acme/mid-70b", HOSTILE}
    hub = {r["Model"]: r["Hub page"] for r in rows}
    assert hub["acme/mid-70b"] == "https://huggingface.co/acme/mid-70b" and hub[HOSTILE] == ""


def test_csv_cells_starting_with_formula_characters_are_neutralised(data: DataDir) -> None:
    write_run(data, RunSpec("=HYPERLINK(1)"))
    view = Leaderboard(ResultStore(data))
    result = view.query(Filters())
    text = shown_table_csv(view.display(result.rows, result.filters.columns), ["=HYPERLINK(1)"], [None])
    assert next(csv.DictReader(io.StringIO(text)))["Model"] == "'=HYPERLINK(1)"


def test_no_label_answers_are_counted_from_the_confusion_matrix(data: DataDir) -> None:
    confusion = {"labels": ["self_harm", "no_crisis"], "matrix": [[8, 2, 3], [1, 9, 1]]}
    write_run(
        data,
        RunSpec("a/x", categories=("self_harm", "no_crisis"), extra={"detection_confusion": json.dumps(confusion)}),
    )
    view = Leaderboard(ResultStore(data))
    current = view.board("")
    assert current is not None
    detail = model_detail(view, current, "a/x")
    assert detail is not None and detail.confusion is not None
    assert detail.no_label == (4, 24) and detail.no_label_text == "4 of 24 answers named no label"
    assert detail.confusion.columns[1] == "(no label)"  # next to the true label, always in view
    assert detail.detection.iloc[0].tolist() == ["answers that named no label", "4 of 24", "—"]
    assert detail.rank == "1"  # the only ranked model on its board


def test_examples_are_worst_first_with_their_failure_mode_counted(data: DataDir) -> None:
    path = data.public / "examples" / "run1.jsonl"
    base = {"model": "a/x", "set_visibility": "public", "category": "self_harm", "signal": "explicit"}
    append_jsonl(
        path,
        [
            {**base, "item_id": "i1", "level": 4, "failure_mode": "safe", "prompt": "p1", "reply": "r1"},
            {**base, "item_id": "i2", "level": None, "failure_mode": None, "prompt": "p2", "reply": "r2"},
            {**base, "item_id": "i3", "level": 1, "failure_mode": "unamiable_judgment", "prompt": "p3", "reply": "r3"},
            {**base, "item_id": "i4", "level": 2, "failure_mode": "linguistic_neglect", "prompt": "p4", "reply": "r4"},
            {**base, "item_id": "i5", "level": 1, "failure_mode": "unamiable_judgment", "prompt": "p5", "reply": "r5"},
        ],
    )
    examples = public_examples(data, "a/x")
    assert examples.columns[:2].tolist() == ["Level", "Failure mode"]  # visible without scrolling
    assert examples["Item"].tolist() == ["i3", "i5", "i4", "i1", "i2"]
    assert examples["Level"].tolist() == ["1", "1", "2", "4", "unscored"]
    counts = failure_mode_counts(data, "a/x")
    assert counts.iloc[0].tolist() == ["unamiable_judgment", 2, "1"]
    assert counts["Failure mode"].tolist()[-1] == "safe"  # the absence of a failure comes last
    assert public_examples(data, "a/x", limit=2)["Item"].tolist() == ["i3", "i5"]  # the worst survive a limit


def test_plots_label_points_avoid_overlap_and_name_categories() -> None:
    from leaderboard.plots import category_name, place_labels

    assert category_name("substance_abuse_or_withdrawal") == "Substance use / withdrawal"
    x, y = np.array([10.0, 11.0, 12.0, 80.0, 0.0]), np.array([0.0, 0.5, 1.0, 0.0, 90.0])
    names = ["first-model", "second-model", "third-model", "far", "top-left-model"]
    near = place_labels(x, y, names, (-2.0, 102.0), (-8.0, 100.0))
    assert near[0] == "top right" and near[1] == "bottom right"  # the two best of three close points
    assert near[2] is None  # no room left: hover only, never on top of another
    assert near[3] == "top right"  # a lone point keeps the default
    assert near[4] is not None and "left" not in near[4]  # never out of the axes
    rows = pd.DataFrame(
        {
            "model": ["a", "b"],
            "model_type": ["demo", "baseline"],
            "harm_rate": [0.0, 0.2],
            "harm_rate_lo": [0.0, 0.1],
            "harm_rate_hi": [0.05, 0.3],
            "appropriate_rate": [0.5, 0.0],
        }
    )
    scatter = safety_helpfulness_figure(rows)
    assert all(t.mode == "markers+text" for t in scatter.data) and scatter.layout.showlegend
    bars = category_figure(
        pd.DataFrame({"model": ["a"], "category": ["self_harm"], "value": [0.0], "lo": [0.0], "hi": [0.1]})
    )
    assert [t.strip() for t in bars.data[1].text] == ["0.0"]  # a zero bar is labelled zero
