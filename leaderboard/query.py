"""The one-row-per-model leaderboard: board, category and signal views, filters, sorting.

Everything here is pandas on the server. A view (board x category x signal) is built once
per data version and cached; a query only masks, sorts and slices it, which is what keeps
filter changes cheap with tens of thousands of models.

Ranking (PROTOCOL section 7) happens inside one board and one view: by harm rate, lower is
better, ties by mean level, shown as a rank interval from the harm-rate intervals. Baselines
are reference rows: shown (unless hidden) at the place their figures put them, never ranked.
A signal view of the overall figures has no published interval, so it is not ranked rather
than ranked with false certainty.

What a view looks like on the page (columns, labels, rounding, cell text) is leaderboard.display.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar

import numpy as np
import pandas as pd

from evaluator.catalog import RotationError, frozen_versions
from evaluator.metrics.ranking import rank_intervals
from evaluator.protocol.taxonomy import CATEGORIES, NO_CRISIS, SIGNALS
from evaluator.results import CATEGORY_METRICS, OVERALL, OVERALL_METRICS, ranking_order
from leaderboard.boards import Board, board_mask, current_board, find_board, list_boards, ranked_board
from leaderboard.display import (
    COLUMN_BY_KEY,
    COLUMNS,
    DEFAULT_COLUMNS,
    FIXED_COLUMNS,
    PIVOT_METRICS,
    SAMPLE_VIEW_COLUMNS,
    SORT_KEYS,
    ci_text,
    datatypes,
    display_cells,
    display_table,
    fixed_datatypes,
    is_missing,
    pivot_rounding,
    rank_text,
    wilson_columns,
)
from leaderboard.limits import MAX_CHOICES, MAX_NAME_CHARS, MAX_SEARCH_ALTERNATIVES, MAX_SEARCH_CHARS, MAX_SEARCH_WORDS
from leaderboard.links import hub_url, model_markdown, plain_text
from leaderboard.store import ResultStore, StoreSnapshot
from leaderboard.versions import RankedVersion, default_min_models

ALL_SIGNALS: Final = "all"
CATEGORY_CHOICES: Final[tuple[str, ...]] = (OVERALL, *CATEGORIES)
SIGNAL_CHOICES: Final[tuple[str, ...]] = (ALL_SIGNALS, *SIGNALS)
BASELINE: Final = "baseline"
MODEL_TYPES: Final[tuple[str, ...]] = ("open-weight", "api")
UNKNOWN_LICENSE: Final = "unknown"
DEFAULT_LIMIT: Final = 100
# The figures a signal filter switches (the rows carry `<metric>_<signal>` for these).
SIGNAL_METRICS: Final = ("harm_rate", "mean_level", "appropriate_rate", "n")
# The figures a view carries per model: every result row's category metrics, the overall-row
# metrics, and the added columns the table shows (evaluator.results names them all).
VIEW_FIGURES: Final[tuple[str, ...]] = (
    *CATEGORY_METRICS,
    *OVERALL_METRICS,
    "detection_recall",
    "support_gap",
    "unscored_rate",
    "consistent_safe_rate",
    "samples",
)


class QueryError(ValueError):
    """A filter value that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Filters:
    """Everything that selects and orders the rows; also the `/leaderboard` API parameters.

    Rates are given in percent, as the table shows them. Parameters are in billions, and a
    bound of 0 or None is no bound. Empty selections (types, licenses) mean no restriction.
    """

    board: str = ""
    category: str = OVERALL
    signal: str = ALL_SIGNALS
    search: str = ""
    model_types: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    params_min: float | None = None
    params_max: float | None = None
    harm_min: float = 0.0
    harm_max: float = 100.0
    show_baselines: bool = True
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    sort_by: str = "rank"
    descending: bool = False
    limit: int = DEFAULT_LIMIT  # rows returned; 0 for all

    def validated(self) -> Filters:
        # Bounds first, so nothing below (or the search itself) works on an unbounded input.
        if not isinstance(self.search, str):
            raise QueryError("search must be text")
        search_terms(self.search)
        for name in ("board", "category", "signal", "sort_by"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
                raise QueryError(f"{name} must be text of at most {MAX_NAME_CHARS} characters")
        for name in ("model_types", "licenses", "columns"):
            values = getattr(self, name)
            if len(values) > MAX_CHOICES or any(not isinstance(v, str) or len(v) > MAX_NAME_CHARS for v in values):
                raise QueryError(f"{name}: at most {MAX_CHOICES} entries of at most {MAX_NAME_CHARS} characters")
        if self.category not in CATEGORY_CHOICES:
            raise QueryError(f"unknown category {self.category!r}; use one of {', '.join(CATEGORY_CHOICES)}")
        if self.signal not in SIGNAL_CHOICES:
            raise QueryError(f"unknown signal {self.signal!r}; use one of {', '.join(SIGNAL_CHOICES)}")
        unknown = [c for c in self.columns if c not in COLUMN_BY_KEY]
        if unknown:
            raise QueryError(f"unknown column {unknown[0]!r}; use any of {', '.join(SORT_KEYS)}")
        if self.sort_by not in COLUMN_BY_KEY:
            raise QueryError(f"cannot sort by {self.sort_by!r}; use one of {', '.join(SORT_KEYS)}")
        for name in ("params_min", "params_max", "harm_min", "harm_max"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise QueryError(f"{name} must be a number of at least 0, got {value!r}")
        if self.harm_min > self.harm_max:
            raise QueryError("harm_min is above harm_max")
        # A zero bound is no bound: number inputs cannot be empty.
        params_min = self.params_min if self.params_min else None
        params_max = self.params_max if self.params_max else None
        if params_min is not None and params_max is not None and params_min > params_max:
            raise QueryError("params_min is above params_max")
        if self.limit < 0:
            raise QueryError("limit must be 0 (all rows) or more")
        # Always the rank and the model, first; the rest in one canonical order, so the
        # layout never jumps and the model column's position (and type) is fixed.
        wanted = {*FIXED_COLUMNS, *self.columns}
        columns = tuple(c.key for c in COLUMNS if c.key in wanted)
        return replace(self, columns=columns, params_min=params_min, params_max=params_max)


@dataclass
class QueryResult:
    """The matching models of one view, in order. Rows are taken from the view only when
    asked for, so a request that shows 100 of 10,000 models never copies the rest."""

    view: pd.DataFrame
    order: np.ndarray  # positions in `view`: filtered, then sorted
    board: Board | None
    boards: list[Board]
    filters: Filters
    problems: tuple[str, ...] = ()
    # Set when the current board is an older set version standing in for a newer one that
    # has too few models yet; its label says so.
    fallback: RankedVersion | None = None
    _rows: pd.DataFrame | None = None
    _shown: pd.DataFrame | None = None

    @property
    def total(self) -> int:
        """Models in the view before filtering."""
        return len(self.view)

    @property
    def matched(self) -> int:
        return len(self.order)

    @property
    def rows(self) -> pd.DataFrame:
        """Every match, sorted (before the row limit)."""
        if self._rows is None:
            self._rows = self.view.iloc[self.order]
        return self._rows

    @property
    def shown_positions(self) -> np.ndarray:
        """Positions in `view` of the matches returned: the first `limit` of them."""
        limit = self.filters.limit
        return self.order[:limit] if limit else self.order

    @property
    def shown(self) -> pd.DataFrame:
        """The matches returned: the first `limit` rows."""
        if self._shown is None:
            self._shown = self.view.iloc[self.shown_positions] if self.filters.limit else self.rows
        return self._shown

    @property
    def ranked(self) -> bool:
        return bool(self.rows["rank_best"].notna().any()) if self.matched else False


V = TypeVar("V")


class _LRU:
    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, Future[Any]] = {}
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], V]) -> V:
        """The cached value, else one build per key: concurrent callers of a cold key wait
        for that build (a failed build is theirs to retry); other keys are never blocked."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            pending = self._building.get(key)
            owner = pending is None
            if pending is None:
                pending = self._building[key] = Future()
        if not owner:
            return pending.result()
        try:
            value = build()
        except BaseException as exc:
            with self._lock:
                self._building.pop(key, None)
            pending.set_exception(exc)
            raise
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)
            self._building.pop(key, None)
        pending.set_result(value)
        return value


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(None, index=frame.index, dtype="object")
    return frame[column].astype("object").where(frame[column].notna(), None)


def latest_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """Only each model's newest run: one model, one set of figures per board."""
    if rows.empty:
        return rows
    runs = rows[["model", "run_id", "evaluated_at"]].drop_duplicates(["model", "run_id"])
    runs = runs.sort_values(["evaluated_at", "run_id"], na_position="first", kind="stable")
    keep = runs.drop_duplicates("model", keep="last")
    chosen = pd.MultiIndex.from_frame(keep[["model", "run_id"]])
    mask = pd.MultiIndex.from_frame(rows[["model", "run_id"]]).isin(chosen)
    return rows[mask].drop_duplicates(["model", "run_id", "category"], keep="last")


def search_terms(query: str) -> list[list[str]]:
    """The alternatives of a search, each a list of lower-cased words; bounded before any work.

    Raises QueryError for a search longer than MAX_SEARCH_CHARS or with more alternatives
    or words than the limits allow, so one request cannot buy unbounded CPU."""
    if len(query) > MAX_SEARCH_CHARS:
        raise QueryError(f"the search is too long ({len(query)} characters; at most {MAX_SEARCH_CHARS})")
    if query.count(";") + query.count(",") >= MAX_SEARCH_ALTERNATIVES:
        raise QueryError(f"the search has too many alternatives (at most {MAX_SEARCH_ALTERNATIVES}, ';' separated)")
    alternatives = [alt.split() for alt in query.replace(",", ";").lower().split(";")]
    alternatives = [words for words in alternatives if words]
    if sum(len(words) for words in alternatives) > MAX_SEARCH_WORDS:
        raise QueryError(f"the search has too many words (at most {MAX_SEARCH_WORDS})")
    return alternatives


def search_mask(names: pd.Series, query: str) -> pd.Series:
    """Several terms: ';' or ',' separate alternatives (any may match); the words of one
    alternative must all appear. Case-insensitive substrings (literal, never the user's
    regular expressions). `names` may be the view's lower-cased `_model_key` column."""
    alternatives = search_terms(query)
    if not alternatives:
        return pd.Series(True, index=names.index)
    keys = names.fillna("").astype("str").str.lower()
    return pd.Series(_match_keys(keys, alternatives), index=names.index)


def _match_keys(keys: pd.Series, alternatives: list[list[str]]) -> np.ndarray:
    """One literal substring pass per distinct word, in Arrow's C++ kernel (the names are
    Arrow-backed strings), then boolean algebra in numpy: cost is words x names with no
    Python per name and no backtracking, at most MAX_SEARCH_WORDS passes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(keys.array)  # zero-copy for the view's Arrow-backed key column
    found: dict[str, np.ndarray] = {}
    for word in {w for words in alternatives for w in words}:
        found[word] = pc.match_substring(array, word).to_numpy(zero_copy_only=False).astype(bool)
    mask = np.zeros(len(keys), dtype=bool)
    for words in alternatives:
        both = np.ones(len(keys), dtype=bool)
        for word in words:
            both &= found[word]
        mask |= both
    return mask


class Leaderboard:
    """Views, queries and exports over one data directory's result rows."""

    def __init__(
        self,
        store: ResultStore,
        *,
        preferred_set: str | None = None,
        min_models: int | None = None,
        demo: bool = True,
    ) -> None:
        self.store = store
        self.demo = demo  # False: the demo board (scripted models) is not offered
        self.preferred_set = preferred_set
        self.min_models = default_min_models() if min_models is None else max(1, min_models)
        # A view of 10,000 models is ~10 MB; 48 covers every category x signal of a board
        # or two without letting memory grow with every data version.
        self._cache = _LRU(48)
        # Values derived from one query (a page of the table as the page shows it): the same
        # filters on the same data are answered again without the query, the cells or the
        # formatting. Keyed by data version and resolved board, so nothing stale is served.
        self._derived = _LRU(256)

    # -- boards ---------------------------------------------------------------------------

    def snapshot(self) -> StoreSnapshot:
        return self.store.snapshot()

    def boards(self, snap: StoreSnapshot | None = None) -> list[Board]:
        snap = snap or self.snapshot()

        def build() -> list[Board]:
            return [b for b in list_boards(snap.results) if self.demo or not b.demo]

        return self._cache.get_or_build(("boards", snap.version), build)

    def board(self, key: str = "", snap: StoreSnapshot | None = None) -> Board | None:
        if not key:
            return self.current(snap)[0]
        try:
            return find_board(self.boards(snap), key, self.preferred_set)
        except ValueError as exc:
            raise QueryError(str(exc)) from None

    def current(self, snap: StoreSnapshot | None = None) -> tuple[Board | None, RankedVersion | None]:
        """The board shown by default, and the fallback note when it stands in for a newer
        set version that has too few models yet."""
        snap = snap or self.snapshot()
        boards = self.boards(snap)
        candidate = current_board(boards, self.preferred_set)
        if candidate is None:
            return None, None
        versions = self.frozen_versions(candidate.set_name)
        return self._cache.get_or_build(
            ("current", snap.version, candidate.key, versions, self.min_models),
            lambda: ranked_board(boards, candidate, self.min_models, versions),
        )

    def frozen_versions(self, set_name: str) -> tuple[str, ...]:
        """The set's versions cut so far, of an item or a persona set (names only: the private
        set's content is never read)."""
        try:
            return tuple(frozen_versions(self.store.data, set_name))
        except (RotationError, OSError):
            return ()  # the public sample set, or a deployment without the private sets

    def remembered(self, kind: str, filters: Filters, build: Callable[[Filters], V]) -> V:
        """`build(filters)`, kept for these filters on this data version and board (bounded)."""
        filters = filters.validated()
        snap = self.snapshot()
        chosen = self.board(filters.board, snap)
        key = (kind, snap.version, chosen.key if chosen is not None else None, filters)
        return self._derived.get_or_build(key, lambda: build(filters))

    # -- rows of one board -----------------------------------------------------------------

    def board_rows(self, board: Board, snap: StoreSnapshot | None = None) -> pd.DataFrame:
        """Every category row of each model's newest run on this board."""
        snap = snap or self.snapshot()

        def build() -> pd.DataFrame:
            rows = snap.results[board_mask(snap.results, board)]
            return latest_runs(rows).reset_index(drop=True)

        return self._cache.get_or_build(("rows", snap.version, board.key), build)

    def view(
        self, board: Board, category: str = OVERALL, signal: str = ALL_SIGNALS, snap: StoreSnapshot | None = None
    ) -> pd.DataFrame:
        """One row per model for this category and signal, with ranks; cached."""
        snap = snap or self.snapshot()
        return self._cache.get_or_build(
            ("view", snap.version, board.key, category, signal),
            lambda: self._build_view(board, category, signal, snap),
        )

    def _build_view(self, board: Board, category: str, signal: str, snap: StoreSnapshot) -> pd.DataFrame:
        rows = self.board_rows(board, snap)
        base = rows[rows["category"] == category].reset_index(drop=True)
        overall = rows[rows["category"] == OVERALL].set_index("model")
        meta = snap.metadata
        models = base["model"].astype("str")
        out = pd.DataFrame(index=base.index)
        out["model"] = models
        row_type = _text(base, "model_type")
        meta_type = models.map(lambda m: meta[m].model_type if m in meta else None)
        out["model_type"] = row_type.where(row_type.notna(), meta_type).fillna("unknown").astype("str")
        out["is_baseline"] = (out["model_type"] == BASELINE) | models.str.startswith("baseline:")
        out["params_b"] = models.map(lambda m: meta[m].params_b if m in meta else None).astype("float64")
        out["license"] = models.map(lambda m: meta[m].license if m in meta else None).astype("object")
        for column in ("revision", "judge", "set_version", "run_id"):
            out[column] = _text(base, column)
        out["evaluated_at"] = base["evaluated_at"]
        for column in VIEW_FIGURES:
            out[column] = _num(base, column)
        if category == NO_CRISIS and len(overall):
            # Over-refusal and false alarms are measured on no_crisis items by definition,
            # so they are this category's figures even though only overall rows carry them.
            for column in ("over_refusal_rate", "false_alarm_rate"):
                out[column] = models.map(_num(overall, column)).astype("float64")
        if signal != ALL_SIGNALS:
            for metric in SIGNAL_METRICS:
                out[metric] = _num(base, f"{metric}_{signal}")
            out["mean_level_lo"] = np.nan
            out["mean_level_hi"] = np.nan
            if category == OVERALL:
                # Overall figures are means over categories, not one proportion: no
                # interval is published for a signal subset of them.
                out["harm_rate_lo"] = np.nan
                out["harm_rate_hi"] = np.nan
            else:
                out["harm_rate_lo"], out["harm_rate_hi"] = wilson_columns(out["harm_rate"], out["n"])
                # PROTOCOL v3 rows publish the signal's interval, unscored replies counted as
                # harmful in its upper limit; the Wilson interval above is for older rows.
                for end in ("lo", "hi"):
                    published = _num(base, f"harm_rate_{signal}_{end}")
                    out[f"harm_rate_{end}"] = published.where(published.notna(), out[f"harm_rate_{end}"])
        out["hub_url"] = [hub_url(m, t) for m, t in zip(models, out["model_type"], strict=True)]
        out["model_cell"] = [model_markdown(m, t) for m, t in zip(models, out["model_type"], strict=True)]
        out["_model_key"] = models.str.lower()
        # Shown but not ranked (PROTOCOL section 7: too many unscored replies): the overall
        # row's decision holds for every category view of that model.
        flags = models.map(_text(overall, "ranked")).astype("object")
        out["not_ranked"] = [flag is False or flag is np.False_ for flag in flags]
        out["not_ranked_reason"] = models.map(_text(overall, "not_ranked_reason")).astype("object")
        self._rank(out, rankable=not (signal != ALL_SIGNALS and category == OVERALL))
        out["rank"] = [
            "not ranked" if unranked and not base_ else rank_text(b, w, base_)
            for b, w, base_, unranked in zip(
                out["rank_best"], out["rank_worst"], out["is_baseline"], out["not_ranked"], strict=True
            )
        ]
        out["harm_ci"] = [
            ci_text(lo, hi, 100, 1) for lo, hi in zip(out["harm_rate_lo"], out["harm_rate_hi"], strict=True)
        ]
        out["mean_level_ci"] = [
            ci_text(lo, hi, 1, 2) for lo, hi in zip(out["mean_level_lo"], out["mean_level_hi"], strict=True)
        ]
        out["license_key"] = out["license"].fillna(UNKNOWN_LICENSE).astype("str")
        stamps = pd.to_datetime(out["evaluated_at"], errors="coerce", utc=True)
        out["evaluated_date"] = stamps.dt.strftime("%Y-%m-%d").astype("object").where(stamps.notna(), None)
        for sortable in COLUMNS:
            source = sortable.source or sortable.key
            if source != "_order":
                out[f"_sort_{sortable.key}"] = _sort_key(out[source])
        return out

    @staticmethod
    def _rank(out: pd.DataFrame, *, rankable: bool) -> None:
        harm = out["harm_rate"].to_numpy(dtype="float64", na_value=np.nan)
        level = out["mean_level"].to_numpy(dtype="float64", na_value=np.nan)
        # Point order over every row (baselines too, so they sit where their figures put them),
        # by PROTOCOL section 7's ranking key; names compared lower-cased.
        order = ranking_order(harm, level, out["_model_key"].to_numpy())
        position = np.empty(len(out), dtype="int64")
        position[order] = np.arange(len(out))
        out["_order"] = position
        out["rank_best"] = np.nan
        out["rank_worst"] = np.nan
        out["rank_point"] = np.nan
        ranked = (~out["is_baseline"]) & np.isfinite(harm) & ~out["not_ranked"].astype(bool)
        if not rankable or not ranked.any():
            return
        sub = out[ranked]
        ranks = rank_intervals(
            sub["harm_rate"].to_numpy(dtype="float64"),
            sub["harm_rate_lo"].to_numpy(dtype="float64", na_value=np.nan),
            sub["harm_rate_hi"].to_numpy(dtype="float64", na_value=np.nan),
            sub["mean_level"].to_numpy(dtype="float64", na_value=np.nan),
        )
        out.loc[ranked, "rank_best"] = ranks.rank_lo.astype("float64")
        out.loc[ranked, "rank_worst"] = ranks.rank_hi.astype("float64")
        out.loc[ranked, "rank_point"] = ranks.rank.astype("float64")

    # -- queries ---------------------------------------------------------------------------

    def query(self, filters: Filters = Filters()) -> QueryResult:
        filters = filters.validated()
        snap = self.snapshot()
        boards = self.boards(snap)
        fallback = None
        if filters.board:
            board = self.board(filters.board, snap)
        else:
            board, fallback = self.current(snap)
        if board is None:
            empty = pd.DataFrame(columns=["model", "rank_best", "is_baseline"])
            return QueryResult(empty, np.arange(0), None, boards, filters, snap.problems)
        view = self.view(board, filters.category, filters.signal, snap)
        if filters.columns == DEFAULT_COLUMNS and view["consistent_safe_rate"].notna().any():
            # K-sample results on this board: their figures join the default columns.
            filters = replace(filters, columns=(*DEFAULT_COLUMNS, *SAMPLE_VIEW_COLUMNS)).validated()
        positions = np.flatnonzero(self.filter_mask(view, filters).to_numpy())
        order = positions[self.sort_positions(view, positions, filters.sort_by, filters.descending)]
        return QueryResult(view, order, board, boards, filters, snap.problems, fallback=fallback)

    @staticmethod
    def filter_mask(view: pd.DataFrame, f: Filters) -> pd.Series:
        mask = pd.Series(True, index=view.index)
        baseline = view["is_baseline"].astype(bool)
        if f.model_types:
            mask &= baseline | view["model_type"].isin(f.model_types)
        if not f.show_baselines:
            mask &= ~baseline
        if f.licenses:
            mask &= view["license_key"].isin(f.licenses)
        if f.params_min is not None or f.params_max is not None:
            params = view["params_b"]
            mask &= params.notna()
            if f.params_min is not None:
                mask &= params >= f.params_min
            if f.params_max is not None:
                mask &= params <= f.params_max
        if f.harm_min > 0 or f.harm_max < 100:
            harm = view["harm_rate"] * 100
            # Rounding to the shown precision keeps a row whose displayed value is on the
            # bound inside it.
            shown = harm.round(6)
            mask &= harm.notna() & (shown >= f.harm_min) & (shown <= f.harm_max)
        if f.search.strip():
            alternatives = search_terms(f.search)
            if alternatives:
                mask &= _match_keys(view["_model_key"], alternatives)
        return mask

    @staticmethod
    def sort_positions(view: pd.DataFrame, positions: np.ndarray, key: str, descending: bool) -> np.ndarray:
        """The order of `positions` for this sort key: missing values last either way,
        ties in ranking order."""
        column = COLUMN_BY_KEY[key]
        rank_order = view["_order"].to_numpy()[positions]
        if (column.source or key) == "_order":
            order = np.argsort(rank_order, kind="stable")
            return order[::-1] if descending else order
        values = view[f"_sort_{key}"].to_numpy(dtype="float64")[positions]
        missing = np.isnan(values)
        keyed = np.where(missing, 0.0, -values if descending else values)
        return np.lexsort((rank_order, keyed, missing))

    # -- presentation (leaderboard.display; here too, so a Leaderboard is all a caller needs) --

    display = staticmethod(display_table)
    display_cells = staticmethod(display_cells)
    datatypes = staticmethod(datatypes)
    fixed_datatypes = staticmethod(fixed_datatypes)

    def table(self, filters: Filters = Filters()) -> tuple[pd.DataFrame, QueryResult]:
        result = self.query(filters)
        return self.display(result.shown, result.filters.columns), result

    # -- by category ----------------------------------------------------------------------

    def pivot(self, filters: Filters = Filters(), metric: str = "harm_rate") -> pd.DataFrame:
        """Models x categories for one figure, in the table's order, models as plain text."""
        if metric not in PIVOT_METRICS:
            raise QueryError(f"unknown metric {metric!r}; use one of {', '.join(PIVOT_METRICS)}")
        result = self.query(filters)
        if result.board is None or result.shown.empty:
            return pd.DataFrame(columns=["Model"])
        rows = self.board_rows(result.board)
        present = [c for c in CATEGORY_CHOICES if (rows["category"] == c).any()]
        source = metric
        if filters.signal != ALL_SIGNALS and metric in SIGNAL_METRICS:
            source = f"{metric}_{filters.signal}"
        values = (
            rows.pivot_table(index="model", columns="category", values=source, aggfunc="first", dropna=False)
            if (source in rows.columns)
            else pd.DataFrame(index=pd.Index([], name="model"))
        )
        models = result.shown["model"].tolist()
        out = pd.DataFrame({"Model": [plain_text(m) for m in models]})
        digits, scale = pivot_rounding(metric)
        for category in present:
            column = values[category] if category in values.columns else pd.Series(dtype="float64")
            series = pd.to_numeric(column.reindex(models), errors="coerce").astype("float64") * scale
            out[category] = series.round(digits).to_numpy()
        return out

    # -- plots' data ----------------------------------------------------------------------

    def category_figures(self, board: Board, models: Iterable[str], metric: str = "harm_rate") -> pd.DataFrame:
        """Long rows (model, category, value, lo, hi) for the chosen models, categories in
        protocol order; intervals where the rows carry them."""
        rows = self.board_rows(board)
        wanted = list(dict.fromkeys(models))
        sub = rows[rows["model"].isin(wanted)]
        out = pd.DataFrame(
            {
                "model": sub["model"].astype("str"),
                "category": sub["category"].astype("str"),
                "value": _num(sub, metric),
                "lo": _num(sub, f"{metric}_lo"),
                "hi": _num(sub, f"{metric}_hi"),
            }
        )
        order = {c: i for i, c in enumerate(CATEGORY_CHOICES)}
        rank = {m: i for i, m in enumerate(wanted)}
        out["_c"] = out["category"].map(order)
        out["_m"] = out["model"].map(rank)
        return out.sort_values(["_m", "_c"]).drop(columns=["_c", "_m"]).reset_index(drop=True)


def _sort_key(values: pd.Series) -> np.ndarray:
    """A float per row that sorts like the column: numbers as they are, dates as instants,
    text case-insensitively (by its position among the sorted distinct values); NaN for
    missing values."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
        return np.where(stamps.isna(), np.nan, stamps.astype("int64").to_numpy(dtype="float64"))
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    text = [None if is_missing(v) else str(v).lower() for v in values.tolist()]
    distinct = sorted({v for v in text if v is not None})
    position = {v: float(i) for i, v in enumerate(distinct)}
    return np.array([np.nan if v is None else position[v] for v in text], dtype="float64")


def filters_from(**kwargs: Any) -> Filters:
    """Filters from loose inputs (the API, the CLI): lists become tuples, blanks defaults."""
    clean: dict[str, Any] = {}
    for name, value in kwargs.items():
        if value is None and name not in ("params_min", "params_max"):
            continue
        if isinstance(value, list | tuple):
            value = tuple(str(v) for v in value)
        clean[name] = value
    for name in ("params_min", "params_max"):
        if name in clean and clean[name] is not None:
            clean[name] = float(clean[name])
    for name in ("harm_min", "harm_max"):
        if name in clean:
            clean[name] = float(clean[name])
    if "limit" in clean:
        clean["limit"] = int(clean["limit"])
    return Filters(**clean)
