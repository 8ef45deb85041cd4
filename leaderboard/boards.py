"""Boards: the (set name, set version, judge) groups inside which results may be ranked.

PROTOCOL section 3 and 7: results on different set versions or judges are never ranked
together. Every view in this package is computed inside one board. The current board is
the newest set version judged by an official judge; everything else stays browsable and is
labelled for what it is (an older set version, an unofficial heuristic judge).

After a rotation the newest version starts with few models, and a ranking of two models says
little. Until it has the configured minimum (evaluator.sets: $CRISIS_RANK_MIN_MODELS), the
previous version's board stays current, labelled as such (`ranked_board`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from evaluator.sets import RankedVersion

HEURISTIC_MARK = "heuristic"


@dataclass(frozen=True, slots=True)
class Board:
    set_name: str
    set_version: str
    judge: str
    official: bool
    latest_version: bool  # the newest version of this set name present in the results
    models: int
    last_evaluated: pd.Timestamp | None

    @property
    def key(self) -> str:
        return f"{self.set_name}|{self.set_version}|{self.judge}"

    @property
    def label(self) -> str:
        text = f"{self.set_name} {self.set_version} · judge {self.judge} · {self.models} models"
        if not self.latest_version:
            text += " · older set version"
        if not self.official:
            text += " · unofficial (heuristic judge)"
        return text


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """'v10' sorts after 'v9'; dates and zero-padded versions sort as plain strings do."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


def _official(frame: pd.DataFrame) -> pd.Series:
    """Rows judged by an official (model) judge.

    `judge_official` is authoritative; rows from writers that predate it fall back to the
    judge id, since the only unofficial judge is the heuristic one.
    """
    by_id = ~frame["judge"].astype("str").str.contains(HEURISTIC_MARK, case=False, regex=False)
    flag = frame["judge_official"]
    return flag.where(flag.notna(), by_id).astype(bool)


def list_boards(rows: pd.DataFrame) -> list[Board]:
    """Every board present, best candidate for "current" first."""
    if rows.empty:
        return []
    frame = pd.DataFrame(
        {
            "set_name": rows["set_name"].fillna(""),
            "set_version": rows["set_version"].fillna(""),
            "judge": rows["judge"].fillna(""),
            "official": _official(rows),
            "model": rows["model"],
            "evaluated_at": rows["evaluated_at"],
        }
    )
    grouped = frame.groupby(["set_name", "set_version", "judge"], sort=False, dropna=False)
    stats = grouped.agg(
        official=("official", "all"),
        models=("model", "nunique"),
        last=("evaluated_at", "max"),
    ).reset_index()
    newest: dict[str, str] = {}
    for name, versions in stats.groupby("set_name")["set_version"]:
        newest[str(name)] = max((str(v) for v in versions), key=_natural_key)
    boards = [
        Board(
            set_name=str(r["set_name"]),
            set_version=str(r["set_version"]),
            judge=str(r["judge"]),
            official=bool(r["official"]),
            latest_version=newest[str(r["set_name"])] == str(r["set_version"]),
            models=int(r["models"]),
            last_evaluated=None if pd.isna(r["last"]) else pd.Timestamp(r["last"]),
        )
        for r in stats.to_dict("records")
    ]

    def preference(b: Board) -> tuple[object, ...]:
        last = b.last_evaluated.value if b.last_evaluated is not None else 0
        return (not b.official, not b.latest_version, -b.models, -last, b.key)

    return sorted(boards, key=preference)


def current_board(boards: list[Board], preferred_set: str | None = None) -> Board | None:
    """The board shown by default: official judge, newest set version, most models.

    `preferred_set` (a deployment setting) pins the set name when several sets coexist,
    such as the held-out set and the public sample set.
    """
    if preferred_set:
        pinned = [b for b in boards if b.set_name == preferred_set]
        if pinned:
            return pinned[0]
    return boards[0] if boards else None


def ranked_board(
    boards: Sequence[Board], candidate: Board | None, min_models: int, versions: Sequence[str] = ()
) -> tuple[Board | None, RankedVersion | None]:
    """The board to rank on instead of `candidate` while its set's newest version is short
    of models, and why (None when the candidate stands as it is).

    The rule is evaluator.sets.choose_ranked_version's: the newest version with at least
    `min_models` models, else the one with the most. Versions are ordered as boards are
    (naturally, so v10 follows v9 whatever the naming). Only boards of the candidate's set
    and kind (official or not) compete, so a fallback never swaps an official ranking for a
    heuristic one. `versions` are the set's frozen versions: one cut but not evaluated yet
    counts as the newest, with no models.
    """
    if candidate is None:
        return None, None
    best: dict[str, Board] = {}
    for board in boards:  # best first, so the first board of a version is the one to show
        if board.set_name == candidate.set_name and board.official == candidate.official:
            best.setdefault(board.set_version, board)
    order = sorted({*best, *versions}, key=_natural_key)
    counts = {version: best[version].models if version in best else 0 for version in order}
    latest = order[-1]
    enough = [v for v in order if counts[v] >= min_models]
    chosen = enough[-1] if enough else max(reversed(order), key=lambda v: counts[v])
    if chosen == latest or chosen not in best:
        return candidate, None
    ranked = RankedVersion(candidate.set_name, chosen, counts[chosen], latest, counts[latest], min_models)
    return best[chosen], ranked


def find_board(boards: list[Board], key: str | None, preferred_set: str | None = None) -> Board | None:
    """The board with this key, the current board for an empty key; ValueError if unknown."""
    if key:
        for board in boards:
            if board.key == key:
                return board
        raise ValueError(f"no results for board {key!r}; choose one of the boards listed")
    return current_board(boards, preferred_set)


def board_mask(rows: pd.DataFrame, board: Board) -> pd.Series:
    return (
        (rows["set_name"].fillna("") == board.set_name)
        & (rows["set_version"].fillna("") == board.set_version)
        & (rows["judge"].fillna("") == board.judge)
    )
