"""The one-row-per-model view: rank intervals, every filter, columns, sorting, categories."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from evaluator.metrics.intervals import wilson
from evaluator.storage import DataDir
from leaderboard.display import COLUMN_BY_KEY, DEFAULT_COLUMNS
from leaderboard.query import Filters, Leaderboard, QueryError, filters_from, search_mask
from leaderboard.store import ResultStore
from tests.leaderboard.conftest import HOSTILE
from tests.support.results_factory import RunSpec, write_run


def models(board: Leaderboard, **kwargs: object) -> list[str]:
    return board.query(Filters(limit=0, **kwargs)).rows["model"].tolist()  # type: ignore[arg-type]


ALL = {"acme/safe-7b", "acme/mid-70b", "other/risky-1b", "api-chat", "baseline:refusal", HOSTILE}


# -- ranking ----------------------------------------------------------------------------


def brute_force_ranks(lo: np.ndarray, hi: np.ndarray) -> tuple[list[int], list[int]]:
    """PROTOCOL section 7 written out literally."""
    n = len(lo)
    best = [1 + sum(1 for j in range(n) if hi[j] < lo[i]) for i in range(n)]
    worst = [n - sum(1 for j in range(n) if lo[j] > hi[i]) for i in range(n)]
    return best, worst


def test_rank_intervals_follow_the_protocol(data: DataDir) -> None:
    rng = np.random.default_rng(7)
    for i, harm in enumerate(rng.uniform(0, 0.5, 25)):
        write_run(data, RunSpec(f"org/m{i:02d}", harm=float(harm), mean_level=float(rng.uniform(2, 5)), n=80))
    rows = Leaderboard(ResultStore(data)).query(Filters(limit=0)).rows
    best, worst = brute_force_ranks(rows["harm_rate_lo"].to_numpy(), rows["harm_rate_hi"].to_numpy())
    point = rows["rank_point"].to_numpy()
    assert rows["rank_best"].tolist() == [min(b, p) for b, p in zip(best, point, strict=True)]
    assert rows["rank_worst"].tolist() == [max(w, p) for w, p in zip(worst, point, strict=True)]
    # Shown in ranking order: harm rate ascending, ties by mean level descending.
    order = rows[["harm_rate", "mean_level"]].to_numpy()
    assert all((a[0] < b[0]) or (a[0] == b[0] and a[1] >= b[1]) for a, b in itertools.pairwise(order))


def test_overlapping_intervals_share_ranks_and_separated_ones_do_not(data: DataDir) -> None:
    write_run(data, RunSpec("a/best", harm=0.0, n=500))
    write_run(data, RunSpec("a/close", harm=0.004, n=500))
    write_run(data, RunSpec("a/worst", harm=0.5, n=500))
    rows = Leaderboard(ResultStore(data)).query(Filters()).rows.set_index("model")
    assert rows.loc["a/best", "rank"] == "1–2"
    assert rows.loc["a/close", "rank"] == "1–2"
    assert rows.loc["a/worst", "rank"] == "3"


def test_ties_on_harm_are_broken_by_mean_level(data: DataDir) -> None:
    write_run(data, RunSpec("a/lower-level", harm=0.1, mean_level=3.0))
    write_run(data, RunSpec("a/higher-level", harm=0.1, mean_level=4.0))
    rows = Leaderboard(ResultStore(data)).query(Filters()).rows
    assert rows["model"].tolist() == ["a/higher-level", "a/lower-level"]
    assert rows["rank_point"].tolist() == [1, 2]


def test_baselines_are_shown_where_their_figures_put_them_but_never_ranked(board: Leaderboard) -> None:
    rows = board.query(Filters()).rows.set_index("model")
    assert rows.loc["baseline:refusal", "rank"] == "ref."
    assert np.isnan(rows.loc["baseline:refusal", "rank_best"])
    ranked = rows[rows["rank_best"].notna()]
    assert int(ranked["rank_worst"].max()) <= len(ranked)  # n counts ranked models only


# -- filters ----------------------------------------------------------------------------


def test_default_shows_every_model_of_the_current_board(board: Leaderboard) -> None:
    assert set(models(board)) == ALL


def test_model_type_filter_keeps_baselines_governed_by_their_own_switch(board: Leaderboard) -> None:
    assert set(models(board, model_types=("api",))) == {"api-chat", "baseline:refusal"}
    assert set(models(board, model_types=("api",), show_baselines=False)) == {"api-chat"}
    assert set(models(board, model_types=("open-weight",), show_baselines=False)) == ALL - {
        "api-chat",
        "baseline:refusal",
    }


def test_hiding_baselines(board: Leaderboard) -> None:
    assert set(models(board, show_baselines=False)) == ALL - {"baseline:refusal"}


def test_parameter_range_leaves_out_unknown_sizes_only_when_bounded(board: Leaderboard) -> None:
    assert set(models(board, params_min=5.0)) == {"acme/safe-7b", "acme/mid-70b"}
    assert set(models(board, params_max=10.0)) == {"acme/safe-7b", "other/risky-1b"}
    assert set(models(board, params_min=2.0, params_max=10.0)) == {"acme/safe-7b"}
    assert set(models(board, params_min=0.0, params_max=0.0)) == ALL  # zero is no bound
    assert set(models(board, params_min=5.0, params_max=0.0)) == {"acme/safe-7b", "acme/mid-70b"}


def test_license_filter_with_unknown(board: Leaderboard) -> None:
    assert set(models(board, licenses=("mit", "llama3"))) == {"other/risky-1b", "acme/mid-70b"}
    assert set(models(board, licenses=("unknown",))) == {"api-chat", "baseline:refusal", HOSTILE}


def test_search_with_several_terms(board: Leaderboard) -> None:
    assert set(models(board, search="acme")) == {"acme/safe-7b", "acme/mid-70b"}
    assert set(models(board, search="ACME 7b")) == {"acme/safe-7b"}  # words: all must match
    assert set(models(board, search="7b; risky")) == {"acme/safe-7b", "other/risky-1b"}  # alternatives
    assert set(models(board, search="safe, api")) == {"acme/safe-7b", "api-chat"}
    assert set(models(board, search="<script>")) == {HOSTILE}  # substrings, not regular expressions
    assert models(board, search=".*") == []
    assert set(models(board, search="  ;  ")) == ALL


def test_search_mask_directly() -> None:
    names = pd.Series(["Org/Llama-3-8B", "org/mistral-7b", "x/llama-70b"])
    assert search_mask(names, "llama 8b").tolist() == [True, False, False]
    assert search_mask(names, "llama;mistral").tolist() == [True, True, True]


def test_harm_rate_range_in_percent(board: Leaderboard) -> None:
    assert set(models(board, harm_max=10.0)) == {"acme/safe-7b", "api-chat", "baseline:refusal"}
    assert set(models(board, harm_min=25.0)) == {"other/risky-1b", HOSTILE}
    assert set(models(board, harm_min=30.0, harm_max=30.0)) == {HOSTILE}  # bounds are inclusive


def test_signal_switches_harm_level_and_appropriate_rate(board: Leaderboard) -> None:
    overall = board.query(Filters(signal="indirect")).rows.set_index("model")
    assert overall.loc["acme/safe-7b", "harm_rate"] == pytest.approx(0.2)
    # Overall signal figures are means over categories: no interval, so no rank.
    assert overall["harm_rate_lo"].isna().all() and overall["rank_best"].isna().all()
    assert board.query(Filters(signal="indirect")).ranked is False
    cat = board.query(Filters(category="self_harm", signal="indirect")).rows.set_index("model")
    safe = cat.loc["acme/safe-7b"]
    assert safe["harm_rate"] == pytest.approx(0.2)
    lo, hi = wilson(round(0.2 * safe["n"]), int(safe["n"]))
    assert (safe["harm_rate_lo"], safe["harm_rate_hi"]) == pytest.approx((lo, hi))
    assert cat["rank_best"].notna().sum() == 5  # ranked within the category view
    assert set(models(board, signal="indirect", harm_min=19.5, harm_max=20.5)) == {"acme/safe-7b"}


def test_category_switches_every_figure(board: Leaderboard) -> None:
    rows = board.query(Filters(category="self_harm")).rows.set_index("model")
    assert rows.loc["acme/mid-70b", "harm_rate"] == pytest.approx(0.5)
    assert np.isnan(rows.loc["acme/mid-70b", "miss_rate"])  # an overall-only figure
    assert (
        rows.loc["acme/mid-70b", "rank"] != board.query(Filters()).rows.set_index("model").loc["acme/mid-70b", "rank"]
    )
    no_crisis = board.query(Filters(category="no_crisis")).rows.set_index("model")
    # Over-refusal is measured on no_crisis items: it is that category's figure.
    assert no_crisis.loc["acme/safe-7b", "over_refusal_rate"] == pytest.approx(0.05)


def test_models_without_the_category_are_absent_from_its_view(data: DataDir) -> None:
    write_run(data, RunSpec("a/full"))
    write_run(data, RunSpec("a/partial", categories=("suicidal_ideation",)))
    view = Leaderboard(ResultStore(data))
    assert models(view, category="self_harm") == ["a/full"]


# -- columns, sorting, limits ----------------------------------------------------------------


def test_rank_and_model_come_first_and_columns_keep_one_order(board: Leaderboard) -> None:
    result = board.query(Filters(columns=("license", "harm_rate", "n")))
    assert result.filters.columns == ("rank", "model", "license", "harm_rate", "n")
    table = board.display(result.shown, result.filters.columns)
    assert list(table.columns) == ["Rank (95%)", "Model", "License", "Harm rate %", "Items scored"]
    default = board.display(board.query(Filters()).shown, Filters().validated().columns)
    assert list(default.columns) == [COLUMN_BY_KEY[k].label for k in DEFAULT_COLUMNS]


def test_display_formats_figures_and_keeps_missing_values_as_none(board: Leaderboard) -> None:
    wide = (*DEFAULT_COLUMNS, "params_b", "license")  # both off by default, to fit 1400 px
    result = board.query(Filters(search="mid-70b", columns=wide))
    row = board.display(result.shown, result.filters.columns).iloc[0].to_dict()
    assert row["Harm rate %"] == 20.8  # (5 x 15% + 50%) / 6 crisis categories, rounded
    assert row["Harm 95% CI"].startswith("[") and row["Params (B)"] == 70.0
    assert row["Model"] == "[acme/mid-70b](https://huggingface.co/acme/mid-70b)"
    api = board.query(Filters(search="api-chat", columns=wide))
    api_row = board.display(api.shown, api.filters.columns).iloc[0].to_dict()
    assert api_row["Params (B)"] is None and api_row["License"] is None
    assert api_row["Model"] == "api\\-chat"  # no Hub page: escaped text, no link


def test_display_cells_of_a_page_equal_the_displayed_rows(board: Leaderboard) -> None:
    every = tuple(COLUMN_BY_KEY)
    result = board.query(Filters(limit=0, columns=every, sort_by="harm_rate", descending=True))
    for positions in (result.order, result.order[1:3], result.order[:0]):
        expected = board.display(result.view.iloc[positions], every, markdown_models=False)
        cells = board.display_cells(result.view, positions, every, markdown_models=False)
        assert list(cells) == list(every)
        for key in every:
            assert cells[key] == expected[COLUMN_BY_KEY[key].label].tolist(), key
            assert all(v is None or isinstance(v, str | int | float) for v in cells[key]), key


def test_search_is_literal_and_case_insensitive_on_unicode_names() -> None:
    names = pd.Series(["Ünïcode/Modèle-7B", "a/b", "org/[x]+", None, "x/ÄÖÜ"], dtype="str")
    assert search_mask(names, "modèle 7b").tolist() == [True, False, False, False, False]
    assert search_mask(names, "[x]+; äöü").tolist() == [False, False, True, False, True]
    assert search_mask(names, "b ; b").tolist() == [True, True, False, False, False]


@pytest.mark.parametrize("key", ["harm_rate", "mean_level", "license", "params_b", "model", "evaluated_at"])
def test_sorting_each_way_with_missing_values_last(board: Leaderboard, key: str) -> None:
    for descending in (False, True):
        rows = board.query(Filters(sort_by=key, descending=descending, limit=0)).rows
        values = rows[key]
        present = values[values.notna()]
        if present.dtype == object:
            present = present.map(str.lower)
        assert list(present) == sorted(present, reverse=descending)
        assert values.notna().tolist() == sorted(values.notna().tolist(), reverse=True)


def test_sort_by_rank_reversed(board: Leaderboard) -> None:
    forward = models(board)
    assert models(board, sort_by="rank", descending=True) == forward[::-1]


def test_limit_keeps_the_count_of_matches(board: Leaderboard) -> None:
    result = board.query(Filters(limit=2))
    assert len(result.shown) == 2 and result.matched == len(ALL) and result.total == len(ALL)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "bogus"}, "unknown category"),
        ({"signal": "loud"}, "unknown signal"),
        ({"columns": ("nope",)}, "unknown column"),
        ({"sort_by": "nope"}, "cannot sort"),
        ({"harm_min": 50.0, "harm_max": 10.0}, "harm_min is above"),
        ({"params_min": 9.0, "params_max": 1.0}, "params_min is above"),
        ({"harm_min": float("nan")}, "harm_min must be"),
        ({"limit": -1}, "limit"),
    ],
)
def test_bad_filters_are_one_line_errors(board: Leaderboard, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        board.query(Filters(**kwargs))  # type: ignore[arg-type]


def test_filters_from_loose_inputs() -> None:
    f = filters_from(model_types=["api"], params_min="2", harm_max=50, limit=5.0, search=None)
    assert f.model_types == ("api",) and f.params_min == 2.0 and f.limit == 5 and f.search == ""


# -- by category and plots' data ------------------------------------------------------------


def test_pivot_is_models_by_categories_in_the_table_order(board: Leaderboard) -> None:
    pivot = board.pivot(Filters(show_baselines=False), "harm_rate")
    assert pivot.columns[0] == "Model" and pivot.columns[1] == "overall"
    assert pivot["Model"].tolist() == [m for m in models(board, show_baselines=False)]
    mid = pivot.set_index("Model").loc["acme/mid-70b"]
    assert mid["self_harm"] == pytest.approx(50.0) and mid["suicidal_ideation"] == pytest.approx(15.0)
    levels = board.pivot(Filters(), "mean_level").set_index("Model")
    assert levels.loc["acme/safe-7b", "overall"] == pytest.approx(4.5)
    with pytest.raises(QueryError):
        board.pivot(Filters(), "bogus")


def test_category_figures_carry_intervals(board: Leaderboard) -> None:
    current = board.board("")
    assert current is not None
    data = board.category_figures(current, ["acme/mid-70b", "acme/safe-7b"])
    assert data["model"].iloc[0] == "acme/mid-70b"
    assert data["category"].iloc[0] == "overall"
    assert (data["lo"] <= data["value"]).all() and (data["value"] <= data["hi"]).all()


def test_views_are_cached_until_the_data_changes(data: DataDir) -> None:
    write_run(data, RunSpec("a/x"))
    view = Leaderboard(ResultStore(data))
    current = view.board("")
    assert current is not None
    assert view.view(current) is view.view(current)
    write_run(data, RunSpec("a/y"))
    assert set(models(view)) == {"a/x", "a/y"}


def test_remembered_values_follow_the_data_and_the_hidden_models(data: DataDir) -> None:
    from leaderboard.hidden import hide_model

    write_run(data, RunSpec("a/x"))
    view = Leaderboard(ResultStore(data))
    builds: list[Filters] = []

    def names(f: Filters) -> list[str]:
        builds.append(f)
        return view.query(f).rows["model"].tolist()

    first = view.remembered("names", Filters(limit=0), names)
    assert view.remembered("names", Filters(limit=0), names) is first and len(builds) == 1
    assert view.remembered("names", Filters(limit=0, search="x"), names) == ["a/x"] and len(builds) == 2
    write_run(data, RunSpec("a/y"))
    assert set(view.remembered("names", Filters(limit=0), names)) == {"a/x", "a/y"}
    hide_model(data, "a/y", "test")
    assert view.remembered("names", Filters(limit=0), names) == ["a/x"]
    with pytest.raises(QueryError):
        view.remembered("names", Filters(search="x" * 10_000), names)


def test_k_sample_figures_join_the_default_columns_where_a_board_has_them(tmp_path: object) -> None:
    from pathlib import Path

    plain = DataDir(Path(str(tmp_path)) / "plain")
    write_run(plain, RunSpec("a/greedy", harm=0.1))
    greedy = Leaderboard(ResultStore(plain), min_models=1)
    assert "Consistently safe % (K samples)" not in greedy.table(Filters())[0].columns

    sampled = DataDir(Path(str(tmp_path)) / "sampled")
    write_run(sampled, RunSpec("a/greedy", harm=0.1))
    write_run(sampled, RunSpec("a/sampled", harm=0.2, extra={"samples": 5, "consistent_safe_rate": 0.625}))
    board = Leaderboard(ResultStore(sampled), min_models=1)
    table, result = board.table(Filters())
    assert result.filters.columns[-2:] == ("consistent_safe_rate", "samples")
    rows = table.set_index(table["Model"].str.extract(r"\[([^\]]+)\]")[0])
    assert rows.loc["a/sampled", "Consistently safe % (K samples)"] == 62.5
    assert rows.loc["a/sampled", "Samples per item"] == 5
    assert rows.loc["a/greedy", "Consistently safe % (K samples)"] is None
    # A reader's own column choice is kept as it is.
    chosen = board.query(Filters(columns=("harm_rate",)))
    assert chosen.filters.columns == ("rank", "model", "harm_rate")


def test_a_category_signal_view_shows_the_published_version_3_interval(tmp_path: object) -> None:
    from pathlib import Path

    data = DataDir(Path(str(tmp_path)) / "v3")
    # The published upper limit counts unscored replies as harmful: wider than Wilson of n.
    write_run(data, RunSpec("a/x", harm=0.1, extra={"harm_rate_indirect_lo": 0.02, "harm_rate_indirect_hi": 0.9}))
    write_run(data, RunSpec("a/old", harm=0.1))
    board = Leaderboard(ResultStore(data), min_models=1)
    result = board.query(Filters(category="suicidal_ideation", signal="indirect"))
    rows = result.shown.set_index("model")
    assert (rows.loc["a/x", "harm_rate_lo"], rows.loc["a/x", "harm_rate_hi"]) == (0.02, 0.9)
    # Rows without the published columns keep the Wilson interval of the signal's count.
    n = rows.loc["a/old", "n"]
    k = round(rows.loc["a/old", "harm_rate"] * n)
    assert rows.loc["a/old", "harm_rate_hi"] == pytest.approx(wilson(int(k), int(n))[1])
