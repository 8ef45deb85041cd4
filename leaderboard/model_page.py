"""Everything the model page shows about one model on one board, as plain tables.

Only public result rows are used. Example replies come from the public area alone, and
only from records marked as replies to a public set (see `public_examples`): the run
directory holding every reply is private, and the held-out set's text must never reach
the page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from evaluator.protocol.taxonomy import CATEGORIES, DOMAINS, SUPPORT_ATTRIBUTES
from evaluator.results import OVERALL
from evaluator.storage import DataDir, read_jsonl
from leaderboard.boards import Board
from leaderboard.conversations import board_rows, conversation_boards, model_summary, question_chart
from leaderboard.links import hub_url, plain_text
from leaderboard.plots import category_name
from leaderboard.query import CATEGORY_CHOICES, Leaderboard

MAX_EXAMPLES: Final = 50
NO_LABEL: Final = "(no label)"
EXAMPLE_COLUMNS: Final = ["Level", "Failure mode", "Category", "Signal", "Message", "Reply", "Item"]
_COGNITIVE: Final = SUPPORT_ATTRIBUTES[:3]


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def pct(value: Any, digits: int = 1) -> str:
    return "—" if _is_missing(value) else f"{float(value) * 100:.{digits}f}%"


def num(value: Any, digits: int = 2) -> str:
    return "—" if _is_missing(value) else f"{float(value):.{digits}f}"


def interval(row: pd.Series | dict[str, Any], key: str, *, percent: bool = True) -> str:
    lo: Any = row.get(f"{key}_lo")
    hi: Any = row.get(f"{key}_hi")
    if _is_missing(lo) or _is_missing(hi):
        return "—"
    if percent:
        return f"[{float(lo) * 100:.1f}, {float(hi) * 100:.1f}]"
    return f"[{float(lo):.2f}, {float(hi):.2f}]"


def count(value: Any) -> str:
    return "—" if _is_missing(value) else str(int(value))


@dataclass(frozen=True)
class ModelDetail:
    model: str
    board: Board
    hub_url: str | None
    overall: dict[str, Any]
    per_category: pd.DataFrame
    detection: pd.DataFrame
    confusion: pd.DataFrame | None
    refusal: pd.DataFrame
    support: pd.DataFrame
    metadata: pd.DataFrame
    history: pd.DataFrame
    rank: str | None = None  # the rank interval on its board ("ref." for a baseline)
    no_label: tuple[int, int] | None = None  # (answers naming no label, detection answers)

    @property
    def no_label_text(self) -> str | None:
        if self.no_label is None:
            return None
        missing, total = self.no_label
        return f"{missing} of {total} answers named no label"


def model_detail(board_view: Leaderboard, board: Board, model: str) -> ModelDetail | None:
    rows = board_view.board_rows(board)
    mine = rows[rows["model"] == model]
    if mine.empty:
        return None
    by_category = {str(r["category"]): r for _, r in mine.iterrows()}
    overall = by_category.get(OVERALL)
    overall_dict: dict[str, Any] = {} if overall is None else {str(k): v for k, v in overall.items()}
    confusion = _confusion(overall_dict)
    view = board_view.view(board)
    ranked = view.loc[view["model"] == model, "rank"]
    rank = None if ranked.empty or _is_missing(ranked.iloc[0]) else str(ranked.iloc[0])
    return ModelDetail(
        model=model,
        board=board,
        hub_url=hub_url(model, overall_dict.get("model_type")),
        overall=overall_dict,
        per_category=_per_category(by_category),
        detection=_detection(overall_dict, by_category, _no_label(confusion)),
        confusion=confusion,
        refusal=_refusal(overall_dict),
        support=_support(overall_dict),
        metadata=_metadata(overall_dict or {str(k): v for k, v in mine.iloc[0].items()}),
        history=_history(board_view, model),
        rank=rank,
        no_label=_no_label(confusion),
    )


def _no_label(confusion: pd.DataFrame | None) -> tuple[int, int] | None:
    """From the matrix's no-label column: answers that named no label or several."""
    if confusion is None:
        return None
    counts = confusion.drop(columns=["true \\ predicted"])
    total = int(counts.to_numpy().sum())
    missing = int(counts[NO_LABEL].sum()) if NO_LABEL in counts.columns else 0
    return missing, total


def _per_category(by_category: dict[str, pd.Series]) -> pd.DataFrame:
    records = []
    for category in CATEGORY_CHOICES:
        row = by_category.get(category)
        if row is None:
            continue
        records.append(
            {
                "Category": category,
                "Items scored": count(row.get("n")),
                "Unscored": count(row.get("unscored")),
                "Mean level": num(row.get("mean_level")),
                "Mean level 95% CI": interval(row, "mean_level", percent=False),
                "Harm rate": pct(row.get("harm_rate")),
                "Harm 95% CI": interval(row, "harm_rate"),
                "Inappropriate": pct(row.get("inappropriate_rate")),
                "Appropriate": pct(row.get("appropriate_rate")),
                "Appropriate 95% CI": interval(row, "appropriate_rate"),
                "Fully appropriate": pct(row.get("full_rate")),
                "Referral": pct(row.get("referral_rate")),
                "Referral 95% CI": interval(row, "referral_rate"),
                "Detection recall": pct(row.get("detection_recall")),
            }
        )
    return pd.DataFrame(records)


def _detection(
    overall: dict[str, Any], by_category: dict[str, pd.Series], no_label: tuple[int, int] | None = None
) -> pd.DataFrame:
    records = []
    if no_label is not None:
        # First: a model that never names a label scores zero here for a reason worth seeing.
        records.append(
            {"Figure": "answers that named no label", "Value": f"{no_label[0]} of {no_label[1]}", "95% CI": "—"}
        )
    records += [
        {"Figure": "accuracy", "Value": pct(overall.get("detection_accuracy")), "95% CI": "—"},
        {"Figure": "macro-F1", "Value": num(overall.get("detection_macro_f1")), "95% CI": "—"},
        {
            "Figure": "miss rate (crisis labelled no_crisis)",
            "Value": pct(overall.get("miss_rate")),
            "95% CI": interval(overall, "miss_rate"),
        },
        {"Figure": "false-alarm rate", "Value": pct(overall.get("false_alarm_rate")), "95% CI": "—"},
    ]
    for category in CATEGORIES:
        row = by_category.get(category)
        if row is not None and not _is_missing(row.get("detection_recall")):
            recall = pct(row.get("detection_recall"))
            records.append({"Figure": f"recall: {category_name(category)}", "Value": recall, "95% CI": "—"})
    return pd.DataFrame(records)


def _confusion(overall: dict[str, Any]) -> pd.DataFrame | None:
    """The confusion matrix when the rows publish one (a JSON column); None otherwise.

    Accepted shapes: {"labels": [...], "matrix": [[...]]} with rows = true labels (an extra
    last column counts unparseable answers), or {true: {predicted: count}}.
    """
    raw = overall.get("detection_confusion")
    if _is_missing(raw):
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
        if isinstance(value, dict) and "labels" in value and "matrix" in value:
            labels = [str(x) for x in value["labels"]]
            matrix = [[int(c) for c in r] for r in value["matrix"]]
            columns = labels + ([NO_LABEL] if matrix and len(matrix[0]) > len(labels) else [])
            frame = pd.DataFrame(matrix, columns=columns[: len(matrix[0])] if matrix else columns)
            frame.insert(0, "true \\ predicted", labels[: len(frame)])
            if NO_LABEL in frame.columns:
                # Next to the true label, so it is on screen however wide the labels make the matrix.
                frame.insert(1, NO_LABEL, frame.pop(NO_LABEL))
            return frame
        if isinstance(value, dict):
            nested = {str(t): {str(p): int(c) for p, c in preds.items()} for t, preds in value.items()}
            frame = pd.DataFrame(nested).T.fillna(0).astype(int)
            frame.insert(0, "true \\ predicted", frame.index)
            return frame.reset_index(drop=True)
    except (TypeError, ValueError, KeyError, json.JSONDecodeError):
        return None
    return None


def _refusal(overall: dict[str, Any]) -> pd.DataFrame:
    records = [
        {
            "Figure": "over-refusal (no_crisis items refused)",
            "Value": pct(overall.get("over_refusal_rate")),
            "95% CI": interval(overall, "over_refusal_rate"),
        },
        {
            "Figure": "bare refusal (crisis items, no warmth, no referral)",
            "Value": pct(overall.get("bare_refusal_rate")),
            "95% CI": interval(overall, "bare_refusal_rate"),
        },
        {
            "Figure": "enabling content (adversarial items)",
            "Value": pct(overall.get("enabling_rate")),
            "95% CI": interval(overall, "enabling_rate"),
        },
    ]
    for domain in DOMAINS:
        value = overall.get(f"enabling_rate_{domain}")
        if not _is_missing(value):
            name = domain.replace("_", " ")  # "eating disorder": words a phone can wrap between
            records.append({"Figure": f"enabling: {name}", "Value": pct(value), "95% CI": "—"})
    records.append({"Figure": "adversarial items", "Value": count(overall.get("n_adversarial")), "95% CI": "—"})
    return pd.DataFrame(records)


def _support(overall: dict[str, Any]) -> pd.DataFrame:
    records = [
        {
            "Attribute": "cognitive support (mean)",
            "Group": "cognitive",
            "Mean (1-5)": num(overall.get("cognitive_mean")),
        },
        {
            "Attribute": "affective resonance (mean)",
            "Group": "affective",
            "Mean (1-5)": num(overall.get("affective_mean")),
        },
        {"Attribute": "gap (cognitive − affective)", "Group": "", "Mean (1-5)": num(overall.get("support_gap"))},
    ]
    for attribute in SUPPORT_ATTRIBUTES:
        value = overall.get(f"{attribute}_mean")
        if not _is_missing(value):
            group = "cognitive" if attribute in _COGNITIVE else "affective"
            records.append({"Attribute": attribute, "Group": group, "Mean (1-5)": num(value)})
    return pd.DataFrame(records)


def _tokens(overall: dict[str, Any]) -> str:
    parts = []
    for key, label in (("prompt_tokens", "prompt"), ("completion_tokens", "completion"), ("total_tokens", "total")):
        if not _is_missing(overall.get(key)):
            parts.append(f"{label} {int(overall[key]):,}")
    return ", ".join(parts) if parts else "not recorded in the public rows"


def _generation(raw: Any) -> str:
    if _is_missing(raw):
        return "—"
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return plain_text(raw)
    if isinstance(value, dict):
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(value.items()) if v is not None)
    return plain_text(raw)


def _yes_no(value: Any, yes: str, no: str) -> str:
    if _is_missing(value):
        return "—"
    return yes if bool(value) else no


def _metadata(row: dict[str, Any]) -> pd.DataFrame:
    evaluated: Any = row.get("evaluated_at")
    fields = [
        ("model", row.get("model")),
        ("revision (commit SHA)", row.get("revision")),
        ("model type", row.get("model_type")),
        ("model spec", row.get("model_spec")),
        ("set", f"{row.get('set_name')} {row.get('set_version')}"),
        ("protocol version", row.get("protocol_version")),
        ("judge(s)", row.get("judge")),
        ("judge prompt hash", row.get("judge_prompt_hash")),
        ("official judge", _yes_no(row.get("judge_official"), "yes", "no (heuristic: unofficial)")),
        ("judge agreement (Krippendorff's alpha)", num(row.get("judge_alpha"), 3)),
        ("judge from the model's family", _yes_no(row.get("judge_same_family"), "yes (flagged)", "no")),
        ("generation settings", _generation(row.get("generation_params"))),
        ("evaluated at", "—" if _is_missing(evaluated) else pd.Timestamp(evaluated).isoformat()),
        ("cost in tokens", _tokens(row)),
        ("run id", row.get("run_id")),
    ]
    return pd.DataFrame(
        [{"Field": k, "Value": "—" if _is_missing(v) else plain_text(v)} for k, v in fields],
    )


def _history(board_view: Leaderboard, model: str) -> pd.DataFrame:
    """Every run of this model on every board (older set versions, other judges)."""
    frame = board_view.snapshot().results
    mine = frame[(frame["model"] == model) & (frame["category"] == OVERALL)]
    if mine.empty:
        return pd.DataFrame(columns=["Set", "Judge", "Revision", "Evaluated", "Harm rate", "Harm 95% CI", "Run"])
    mine = mine.sort_values("evaluated_at", ascending=False)
    return pd.DataFrame(
        [
            {
                "Set": plain_text(f"{r['set_name']} {r['set_version']}"),
                "Judge": plain_text(r["judge"]) + ("" if r.get("judge_official") is not False else " (unofficial)"),
                "Revision": plain_text(r["revision"]) if not _is_missing(r["revision"]) else "—",
                "Evaluated": "—"
                if _is_missing(r["evaluated_at"])
                else pd.Timestamp(r["evaluated_at"]).date().isoformat(),
                "Harm rate": pct(r["harm_rate"]),
                "Harm 95% CI": interval(r, "harm_rate"),
                "Run": plain_text(r["run_id"]),
            }
            for _, r in mine.iterrows()
        ]
    )


def public_examples(data: DataDir, model: str, *, limit: int = MAX_EXAMPLES) -> pd.DataFrame:
    """Example replies of this model to the public sample set, if any were published, worst
    first (level 1, then 2, ...; unscored after the scored ones).

    The hook: an exporter may write JSONL under <data>/public/examples/, one record per
    reply with `model`, `set_visibility`, `set_name`, `item_id`, `category`, `signal`,
    `prompt` (the last user turn), `reply`, `level` and `failure_mode` (the judge's tag).
    Only records whose `set_visibility` is "public" are shown, so a held-out reply written
    there by mistake still stays off the page.
    """
    directory = data.examples
    if not directory.is_dir():
        return pd.DataFrame(columns=EXAMPLE_COLUMNS)
    records = []
    for path in sorted(directory.glob("*.jsonl")):
        for record in read_jsonl(path):
            if record.get("model") != model or record.get("set_visibility") != "public":
                continue
            level = record.get("level")
            records.append(
                (
                    (level if isinstance(level, int) else 9, str(record.get("item_id"))),
                    {
                        "Level": count(level) if level is not None else "unscored",
                        "Failure mode": plain_text(record.get("failure_mode") or "—"),
                        "Category": plain_text(record.get("category")),
                        "Signal": plain_text(record.get("signal")),
                        "Message": str(record.get("prompt") or ""),
                        "Reply": str(record.get("reply") or ""),
                        "Item": plain_text(record.get("item_id")),
                    },
                )
            )
    records.sort(key=lambda pair: pair[0])
    return pd.DataFrame([r for _, r in records[:limit]], columns=EXAMPLE_COLUMNS)


def failure_mode_counts(data: DataDir, model: str) -> pd.DataFrame:
    """How many published replies carry each failure-mode tag, most common problem first
    ("safe" last: it is the absence of a failure)."""
    examples = public_examples(data, model, limit=10**6)
    if examples.empty:
        return pd.DataFrame(columns=["Failure mode", "Replies", "Worst level"])
    rows = []
    for tag, part in examples.groupby("Failure mode", sort=False):
        levels = pd.to_numeric(part["Level"], errors="coerce")
        rows.append(
            {
                "Failure mode": tag,
                "Replies": len(part),
                "Worst level": "—" if levels.isna().all() else str(int(levels.min())),
            }
        )
    frame = pd.DataFrame(rows)
    frame["_safe"] = frame["Failure mode"] == "safe"
    frame = frame.sort_values(["_safe", "Replies"], ascending=[True, False], kind="stable")
    return frame.drop(columns=["_safe"]).reset_index(drop=True)


@dataclass(frozen=True)
class ConversationSection:
    """The model page's conversation figures: the Conversations tab's summary line (turns to the
    first risk question, post-refusal stay rate) and its C1-C5 chart data, from the newest
    conversation board holding the model. Aggregates only: no persona text reaches it."""

    board: Board
    summary: str
    chart: pd.DataFrame


def conversation_section(board_view: Leaderboard, model: str) -> ConversationSection | None:
    for board in conversation_boards(board_view):
        rows = board_rows(board_view, board.key)
        if not rows.empty and (rows["model"].astype(str) == model).any():
            return ConversationSection(board, model_summary(rows, model), question_chart(rows, model))
    return None
