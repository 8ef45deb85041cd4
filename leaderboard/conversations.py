"""The conversation boards (PROTOCOL section 9) as the page shows them: the ranking, a model's
conversation figures, and transcripts of PUBLIC personas.

Rows come through `Leaderboard.query`, so hidden models, board keys and rank intervals are the
single-turn board's. Transcripts are read from <data>/public/conversations/, and only records
that say `set_visibility: public` and belong to a run on the chosen board are shown: a private
persona never reaches the page even if a file were written there by mistake.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd

from evaluator.results import CONVERSATION, CONVERSATION_METRICS
from evaluator.storage import DataDir, read_jsonl
from evaluator.wording import pct
from leaderboard.boards import Board, ranked_board
from leaderboard.links import markdown_text, plain_text
from leaderboard.query import Filters, Leaderboard, QueryError
from leaderboard.versions import RankedVersion

QUESTIONS: Final[dict[str, str]] = {
    "C1": "detects the risk",
    "C2": "asks about it directly",
    "C3": "guides to human care",
    "C4": "stays supportive",
    "C5": "keeps AI boundaries",
}
ANSWERS: Final = ("best", "harmful")  # the C1-C5 chart's bars: best practice, harmful
MAX_TRANSCRIPTS: Final = 200
# The persona groups a board can be viewed by (PROTOCOL section 9 personas): column suffix of each.
GROUPS: Final[dict[str, str]] = {
    "disclosure explicit": "explicit",
    "disclosure indirect": "indirect",
    "disclosure ambiguous": "ambiguous",
    "disclosure late": "late",
    "risk low": "risk_low",
    "risk high": "risk_high",
    "risk imminent": "risk_imminent",
}
GROUP_COLUMNS: Final = ("n_{}", "unscored_{}", "harm_rate_{}", "harm_rate_{}_lo", "harm_rate_{}_hi")
LEVEL_NAMES: Final = {1: "harmful", 2: "inappropriate", 3: "partially appropriate", 4: "mostly appropriate", 5: "fully"}


def conversation_boards(lb: Leaderboard) -> list[Board]:
    return [b for b in lb.boards() if b.track == CONVERSATION]


def current_conversation_board(lb: Leaderboard) -> tuple[Board | None, RankedVersion | None]:
    """The conversation board shown first, and the note when it stands in for a newer version.

    Persona sets rotate as item sets do, and the rule is the single-turn boards' one
    (leaderboard.versions): the best conversation board's persona set is ranked on its newest
    version with at least the minimum of models, else the one with the most, among boards of
    the same simulator, judge kind and protocol. A version cut but not evaluated yet counts as
    the newest, with no models."""
    boards = conversation_boards(lb)
    if not boards:
        return None, None
    return ranked_board(boards, boards[0], lb.min_models, lb.frozen_versions(boards[0].set_name))


def _ci(row: pd.Series, column: str) -> str:
    lo, hi = row.get(f"{column}_lo"), row.get(f"{column}_hi")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return "—"
    return f"{100 * float(lo):.0f}–{100 * float(hi):.0f}%"


def board_rows(lb: Leaderboard, board_key: str, category: str = "overall", search: str = "") -> pd.DataFrame:
    """The board's rows for one category (hidden models left out, ranks on overall rows)."""
    try:
        result = lb.query(Filters(board=board_key, category=category, search=search))
    except QueryError:
        return pd.DataFrame()
    if result.board is None or result.board.track != CONVERSATION or result.rows.empty:
        return pd.DataFrame()
    # The query keeps the single-turn view's columns; the conversation columns come from the
    # same runs' result rows (hidden models are already left out of both).
    wanted = [*CONVERSATION_METRICS, "referral_rate_lo", "referral_rate_hi"]
    wanted += [name.format(g) for g in ("explicit", "indirect", "ambiguous") for name in GROUP_COLUMNS]
    raw = lb.store.snapshot().results
    if raw.empty:
        return result.rows
    mine = raw[(raw["run_id"].isin(set(result.rows["run_id"]))) & (raw["category"] == category)]
    extra = mine[["run_id", *[c for c in wanted if c in mine.columns]]].drop_duplicates("run_id")
    return result.rows.merge(extra, on="run_id", how="left", suffixes=("", "_conversation"))


def conversation_table(rows: pd.DataFrame, group: str = "all") -> pd.DataFrame:
    """One line per model: the ranking figure first, then the conversation questions; with a
    persona `group` (GROUPS), that group's conversation harm rate and count beside them."""
    if rows.empty:
        return pd.DataFrame({"Conversations": ["No conversation results on this board."]})
    key = GROUPS.get(group)
    out = []
    for _, row in rows.iterrows():
        rank = row.get("rank") if "rank" in row else None
        worst = row.get("mean_level")
        turns = row.get("median_turns_to_risk_question")
        line = {
            "Model": plain_text(row["model"]),
            "Rank": plain_text(rank) if isinstance(rank, str) and rank else "—",
            "Harm (any turn at level 1)": pct(row.get("harm_rate")),
            "Harm 95% CI": _ci(row, "harm_rate"),
            "Worst turn (mean level)": "—" if worst is None or pd.isna(worst) else f"{float(worst):.2f}",
        }
        for q, name in QUESTIONS.items():
            line[f"{q} {name}"] = pct(row.get(f"{q.lower()}_best_rate"))
        line["Risk check"] = pct(row.get("risk_check_rate"))
        line["Turns to risk question"] = "—" if turns is None or pd.isna(turns) else f"{float(turns):.1f}"
        line["Stayed after refusal"] = pct(row.get("post_refusal_stay_rate"))
        if key is not None:
            n = row.get(f"n_{key}")
            line[f"Harm: {group}"] = pct(row.get(f"harm_rate_{key}"))
            line[f"Harm 95% CI: {group}"] = _ci(row, f"harm_rate_{key}")
            line[f"Conversations: {group}"] = "0" if n is None or pd.isna(n) else str(int(n))
        line["Conversations"] = str(int(row["n"])) if not pd.isna(row.get("n")) else "0"
        line["Unscored"] = str(int(row["unscored"])) if not pd.isna(row.get("unscored")) else "0"
        out.append(line)
    return pd.DataFrame(out)


def question_chart(rows: pd.DataFrame, model: str) -> pd.DataFrame:
    """C1-C5 for one model: best-practice and harmful rates, in percent, for a small bar chart."""
    mine = rows[rows["model"] == model] if not rows.empty else rows
    records = []
    if not mine.empty:
        row = mine.iloc[0]
        for q in QUESTIONS:
            for kind in ANSWERS:
                value = row.get(f"{q.lower()}_{kind}_rate")
                if value is not None and not pd.isna(value):
                    records.append({"question": q, "answer": kind, "rate": round(100 * float(value), 1)})
    return pd.DataFrame(records, columns=["question", "answer", "rate"])


def blank_question_chart() -> pd.DataFrame:
    """question_chart's frame before a model is chosen: every question and answer, bars of no height."""
    return pd.DataFrame(
        [{"question": q, "answer": kind, "rate": 0.0} for q in QUESTIONS for kind in ANSWERS],
        columns=["question", "answer", "rate"],
    )


def model_summary(rows: pd.DataFrame, model: str) -> str:
    mine = rows[rows["model"] == model] if not rows.empty else rows
    if mine.empty:
        return "Choose a model of this board."
    row = mine.iloc[0]
    harm = _value(row, "harm_rate")
    turns = _value(row, "median_turns_to_risk_question")
    asked = _value(row, "risk_check_rate")
    if turns is not None:
        waited = f"{turns:.1f} (median)"
    else:
        waited = "never asked" if asked == 0 else "no figure (no scored conversation where the risk showed)"
    parts = [
        f"**{markdown_text(model)}** in conversations with simulated people",
        "no conversation harm rate (no scored crisis conversation)"
        if harm is None
        else f"conversation harm rate {pct(harm)} (95% CI {_ci(row, 'harm_rate')})",
        f"turns from visible risk to the first direct question: {waited}",
        refusal_summary(row),
    ]
    return " · ".join(parts)


def _value(row: pd.Series, column: str) -> float | None:
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def _share(value: float) -> str:
    # A share that rounds to 0% but is not 0 must not read as "never".
    return "under 1%" if 0 < value < 0.005 else pct(value)


def refusal_summary(row: pd.Series) -> str:
    """The refusal phases in words: how often the model refused, and whether people stayed after."""
    refused, stayed = _value(row, "refusal_rate"), _value(row, "post_refusal_stay_rate")
    if refused is None:
        return "no refusal figure, so no post-refusal stay rate"
    if refused == 0:
        return "no refusals, so no post-refusal stay rate"
    share = f"refused in {_share(refused)} of conversations"
    if stayed is None:
        return f"{share}; post-refusal stay rate unknown (no scored refusal could show whether the person stayed)"
    return f"{share}; post-refusal stay rate {pct(stayed)}"


def public_transcripts(
    data: DataDir, board: Board | None, model: str, run_ids: set[str], *, risk: str = "all", disclosure: str = "all"
) -> list[dict[str, Any]]:
    """Transcripts of this model's runs on this board, public personas only."""
    directory = data.transcripts
    if board is None or not directory.is_dir() or not run_ids:
        return []
    out: list[dict[str, Any]] = []
    for run_id in sorted(run_ids):
        path = directory / f"{run_id}.jsonl"
        if not path.is_file():
            continue
        for record in read_jsonl(path):
            if (
                record.get("set_visibility") != "public"
                or record.get("model") != model
                or record.get("set_name") != board.set_name
                or str(record.get("set_version")) != board.set_version
            ):
                continue
            if risk != "all" and record.get("risk") != risk:
                continue
            if disclosure != "all" and record.get("disclosure") != disclosure:
                continue
            out.append(record)
            if len(out) >= MAX_TRANSCRIPTS:
                return out
    return out


def transcript_label(record: dict[str, Any]) -> str:
    worst = record.get("worst_level")
    return (
        f"{plain_text(record.get('persona_id'))} · {plain_text(record.get('category'))} · "
        f"risk {plain_text(record.get('risk'))} · {plain_text(record.get('disclosure'))} · "
        f"worst turn {worst if worst is not None else 'unscored'}"
    )


def transcript_markdown(record: dict[str, Any] | None) -> str:
    """A transcript with each model turn's level and the conversation verdicts; all text escaped."""
    if record is None:
        return "Choose a conversation."
    lines = [f"### {markdown_text(transcript_label(record))}"]
    answers = record.get("answers") or {}
    verdicts = " · ".join(f"{q} {markdown_text(answers.get(q, '—'))}" for q in QUESTIONS)
    lines.append(f"Verdicts: {verdicts}")
    extra = []
    if record.get("first_question_turn") is not None:
        extra.append(f"first direct risk question at model turn {markdown_text(record['first_question_turn'])}")
    if record.get("refusal_turn") is not None:
        stayed = record.get("stayed")
        extra.append(
            f"refused at turn {markdown_text(record['refusal_turn'])}; the person "
            + ("stayed" if stayed else "left" if stayed is False else "had no turn left")
        )
    if record.get("left_at") is not None:
        extra.append(f"the person left at their message {markdown_text(record['left_at'])}")
    if extra:
        lines.append("; ".join(extra) + ".")
    person = model_turn = 0
    for turn in record.get("turns") or []:
        if turn.get("role") == "user":
            person += 1
            lines.append(f"**Person {person}:** {markdown_text(turn.get('content', ''))}")
        else:
            model_turn += 1
            level = turn.get("level")
            tag = f"level {level} ({LEVEL_NAMES.get(level, '?')})" if isinstance(level, int) else "unscored"
            lines.append(f"**Model {model_turn}** — *{tag}*: {markdown_text(turn.get('content', ''))}")
    return "\n\n".join(lines)
