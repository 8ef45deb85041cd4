"""Boards: the (set name, set version, judge, judge prompt hash, protocol version, track)
groups inside which results may be ranked.

PROTOCOL sections 3, 7 and 9: results on different set versions, judges, judge rubrics
(prompt hashes), protocol versions or tracks (single replies, conversations, log audits) are
never ranked together. Every view in this package is
computed inside one board. The current board is the newest set version judged by an
official judge under the current protocol version; everything else stays browsable and is
labelled for what it is (an older set version or protocol, an unofficial heuristic judge).

After a rotation the newest version starts with few models, and a ranking of two models says
little. Until it has the configured minimum ($CRISIS_RANK_MIN_MODELS), the previous version's
board stays current, labelled as such (`ranked_board`, by the rule of leaderboard.versions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from evaluator.catalog import version_key
from evaluator.protocol.taxonomy import PROTOCOL_VERSION
from evaluator.results import LOG_AUDIT, SINGLE_TURN
from evaluator.wording import counted
from leaderboard.versions import RankedVersion, choose_ranked_version

HEURISTIC_MARK = "heuristic"
DEMO_TYPE = "demo"  # evaluator.backends.demo: scripted models on a board of their own


@dataclass(frozen=True, slots=True)
class Board:
    set_name: str
    set_version: str
    judge: str
    official: bool
    latest_version: bool  # the newest version of this set name present in the results
    models: int
    last_evaluated: pd.Timestamp | None
    # The scripted demo models' board: never the same board as real submissions.
    demo: bool = False
    ranked_models: int = 0  # models other than the baselines
    judge_prompt_hash: str = ""
    protocol_version: str = ""
    # Another board shares set, version and judge but not the rubric or protocol version.
    twin: bool = False
    # PROTOCOL version 3: what the results measure (evaluator.results.RESULT_TRACKS).
    track: str = SINGLE_TURN
    # PROTOCOL section 9: conversation boards are also keyed by the simulated person.
    simulator: str = ""

    @property
    def key(self) -> str:
        rubric = f"|{self.judge_prompt_hash}|p{self.protocol_version}"
        # Single-turn keys keep their version-2 form, so links made before tracks existed work.
        track = "" if self.track == SINGLE_TURN else f"|{self.track}"
        if self.simulator:
            track += f"|{self.simulator}"
        return f"{self.set_name}|{self.set_version}|{self.judge}{rubric}{track}" + ("|demo" if self.demo else "")

    @property
    def short_key(self) -> str:
        """The key without rubric and protocol version (older links): names the best such board."""
        return f"{self.set_name}|{self.set_version}|{self.judge}" + ("|demo" if self.demo else "")

    @property
    def label(self) -> str:
        # Rows written before set names were always given may carry a blank one.
        text = f"{self.set_name.strip() or '(unnamed set)'} {self.set_version} · judge {self.judge}"
        if self.track != SINGLE_TURN:
            text += f" · {self.track.replace('_', ' ')}"
        if self.simulator:
            text += f" · simulator {self.simulator}"
        if self.twin and self.judge_prompt_hash:
            text += f" (prompt {self.judge_prompt_hash[:8]})"
        if self.protocol_version and self.protocol_version != PROTOCOL_VERSION:
            text += f" · protocol v{self.protocol_version}"
        text += f" · {counted(self.models, 'model')}"
        if self.demo:
            text = f"DEMO (scripted reference models, not real submissions) · {text}"
        if not self.latest_version:
            text += " · older set version"
        if not self.official:
            text += " · unofficial (heuristic judge)"
        return text


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
    # PROTOCOL section 10: log audits of a deployer's own conversations never enter a board.
    rows = rows[_tracks(rows) != LOG_AUDIT] if len(rows) else rows
    if rows.empty:
        return []
    frame = pd.DataFrame(
        {
            "set_name": rows["set_name"].fillna(""),
            "set_version": rows["set_version"].fillna(""),
            "judge": rows["judge"].fillna(""),
            "judge_prompt_hash": _text(rows, "judge_prompt_hash"),
            "protocol_version": _text(rows, "protocol_version"),
            "track": _tracks(rows),
            "simulator": _text(rows, "simulator"),
            "official": _official(rows),
            "model": rows["model"],
            "evaluated_at": rows["evaluated_at"],
            "demo": _model_types(rows) == DEMO_TYPE,
        }
    )
    frame["ranked"] = frame["model"].where(~_is_baseline(rows))
    grouped = frame.groupby(list(_BOARD_COLUMNS), sort=False, dropna=False)
    stats = grouped.agg(
        official=("official", "all"),
        models=("model", "nunique"),
        ranked=("ranked", "nunique"),
        last=("evaluated_at", "max"),
    ).reset_index()
    twins = stats.groupby(["set_name", "set_version", "judge", "track", "demo"])["models"].transform("size") > 1
    stats["twin"] = twins
    newest: dict[str, str] = {}
    for name, versions in stats.groupby("set_name")["set_version"]:
        newest[str(name)] = max((str(v) for v in versions), key=version_key)
    boards = [
        Board(
            set_name=str(r["set_name"]),
            set_version=str(r["set_version"]),
            judge=str(r["judge"]),
            official=bool(r["official"]),
            latest_version=newest[str(r["set_name"])] == str(r["set_version"]),
            models=int(r["models"]),
            last_evaluated=None if pd.isna(r["last"]) else pd.Timestamp(r["last"]),
            demo=bool(r["demo"]),
            ranked_models=int(r["ranked"]),
            judge_prompt_hash=str(r["judge_prompt_hash"]),
            protocol_version=str(r["protocol_version"]),
            twin=bool(r["twin"]),
            track=str(r["track"]),
            simulator=str(r["simulator"]),
        )
        for r in stats.to_dict("records")
    ]

    def preference(b: Board) -> tuple[object, ...]:
        last = b.last_evaluated.value if b.last_evaluated is not None else 0
        # Real submissions first, then the demo board, then a board of baselines alone (which
        # ranks nothing): a fresh deployment opens on the demo, a real one on its own results.
        tier = 1 if b.demo else (0 if b.ranked_models else 2)
        # A board of the current protocol version before one of an older version.
        older_protocol = b.protocol_version != PROTOCOL_VERSION
        # Single replies are the headline; conversation boards follow.
        other_track = b.track != SINGLE_TURN
        return (not b.official, tier, other_track, older_protocol, not b.latest_version, -b.models, -last, b.key)

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

    The rule is leaderboard.versions.choose_ranked_version: the newest version with at least
    `min_models` models, else the one with the most. Versions are ordered as everywhere
    (evaluator.catalog.version_key: naturally, so v10 follows v9 whatever the naming). Only
    boards of the candidate's set and kind (official or not) compete, so a fallback never
    swaps an official ranking for a heuristic one. `versions` are the set's frozen versions:
    one cut but not evaluated yet counts as the newest, with no models.
    """
    if candidate is None:
        return None, None
    best: dict[str, Board] = {}
    for board in boards:  # best first, so the first board of a version is the one to show
        same_kind = (
            board.official == candidate.official
            and board.demo == candidate.demo
            and board.protocol_version == candidate.protocol_version
            and board.track == candidate.track
            and board.simulator == candidate.simulator
        )
        if board.set_name == candidate.set_name and same_kind:
            best.setdefault(board.set_version, board)
    counts = {version: board.models for version, board in best.items()}
    ranked = choose_ranked_version(candidate.set_name, counts, min_models, versions)
    if ranked is None or not ranked.fallback or ranked.version not in best:
        return candidate, None
    return best[ranked.version], ranked


def find_board(boards: list[Board], key: str | None, preferred_set: str | None = None) -> Board | None:
    """The board with this key, the current board for an empty key; ValueError if unknown.

    A key without rubric and protocol version (`Board.short_key`, as older links carry)
    names the best board it matches."""
    if key:
        for board in boards:
            if board.key == key:
                return board
        for board in boards:  # best first
            if board.short_key == key:
                return board
        raise ValueError(f"no results for board {key!r}; choose one of the boards listed")
    return current_board(boards, preferred_set)


_BOARD_COLUMNS = (
    "set_name",
    "set_version",
    "judge",
    "judge_prompt_hash",
    "protocol_version",
    "track",
    "simulator",
    "demo",
)


def _text(rows: pd.DataFrame, column: str) -> pd.Series:
    """A string column as text, "" where missing (rows of writers that predate it)."""
    if column not in rows.columns:
        return pd.Series("", index=rows.index, dtype="object")
    return rows[column].astype("object").where(rows[column].notna(), "").astype("str")


def _tracks(rows: pd.DataFrame) -> pd.Series:
    """The track of each row; rows of writers before protocol version 3 measured single replies."""
    return _text(rows, "track").replace("", SINGLE_TURN)


def _model_types(rows: pd.DataFrame) -> pd.Series:
    if "model_type" not in rows.columns:
        return pd.Series("", index=rows.index, dtype="object")
    return rows["model_type"].astype("object").fillna("")


def _is_baseline(rows: pd.DataFrame) -> pd.Series:
    return (_model_types(rows) == "baseline") | rows["model"].astype("str").str.startswith("baseline:")


def board_mask(rows: pd.DataFrame, board: Board) -> pd.Series:
    same = (
        (rows["set_name"].fillna("") == board.set_name)
        & (rows["set_version"].fillna("") == board.set_version)
        & (rows["judge"].fillna("") == board.judge)
        & (_text(rows, "judge_prompt_hash") == board.judge_prompt_hash)
        & (_text(rows, "protocol_version") == board.protocol_version)
        & (_tracks(rows) == board.track)
        & (_text(rows, "simulator") == board.simulator)
        & (_tracks(rows) != LOG_AUDIT)
    )
    demo = _model_types(rows) == DEMO_TYPE
    # The demo board shows the baselines too, as the reference rows they are everywhere.
    return same & ((demo | _is_baseline(rows)) if board.demo else ~demo)
