"""Human ratings of (item, reply) pairs: the ratings file (JSONL or CSV) read into pairs.

The file's format is in the package docstring (evaluator.calibration). Every error names the
file, the line and the field, and never quotes item or reply text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from evaluator.items import Item, ItemSet, item_from_json
from evaluator.judge.panel import lower_median
from evaluator.judge.verdict import hash_text
from evaluator.storage import JsonLineError, iter_jsonl, jsonl_lines

QUESTION_IDS: Final[tuple[str, ...]] = (
    *(f"R{n}" for n in range(1, 6)),
    *(f"Y{n}" for n in range(1, 5)),
    *(f"K{n}" for n in range(1, 5)),
    *(f"Q{n}" for n in range(1, 5)),
)
_INLINE_FIELDS: Final = ("category", "signal", "turns", "message")


class Rated(Protocol):
    """What the agreement figures read of a rated unit: a single-turn pair, or one question of a
    rated conversation (evaluator.calibration.conversations)."""

    @property
    def category(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    @property
    def levels(self) -> Mapping[str, int | None]: ...

    @property
    def checklists(self) -> Mapping[str, Mapping[str, str]]: ...

    @property
    def human_level(self) -> int | None: ...


class CalibrationError(ValueError):
    """A ratings file or option that cannot be used; one line, never quoting item or reply text."""


@dataclass
class Pair:
    """One (item, reply) that people rated, with every rating it got."""

    item: Item
    reply: str
    model: str | None
    levels: dict[str, int] = field(default_factory=dict)  # rater -> level
    checklists: dict[str, dict[str, str]] = field(default_factory=dict)  # rater -> answers

    @property
    def category(self) -> str:
        return self.item.category

    @property
    def item_key(self) -> str:
        # The id alone could name different text in two sets; the content pins it.
        return f"{self.item.id}#{self.item.content_hash()[:16]}"

    @property
    def reply_hash(self) -> str:
        return hash_text(self.reply)

    @property
    def judge_key(self) -> tuple[str, str]:
        return (self.item_key, self.reply_hash)

    @property
    def human_level(self) -> int:
        return lower_median(list(self.levels.values()))


def read_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, row) for every rating of a JSONL or CSV file, blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such ratings file") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for number, row in enumerate(reader, start=2):
            yield number, {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
        return
    try:
        for number, value in iter_jsonl(jsonl_lines(text), on_bad="raise"):
            if not isinstance(value, dict):
                raise CalibrationError(f"{path.name} line {number}: expected a JSON object")
            yield number, value
    except JsonLineError as exc:
        raise CalibrationError(f"{path.name} line {exc.number}: invalid JSON ({exc.reason})") from None


def json_field(value: Any, where: str, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise CalibrationError(f"{where}: field '{name}': not valid JSON") from None
    return value


def _item_for(
    row: Mapping[str, Any], source: str, line: int, item_set: ItemSet | None, by_id: Mapping[str, Item]
) -> Item:
    where = f"{source} line {line}"
    nested = row.get("item")
    if nested is not None:
        return item_from_json(json_field(nested, where, "item"), source=source, line=line)
    item_id = row.get("item_id", row.get("id"))
    if any(k in row for k in _INLINE_FIELDS):
        obj: dict[str, Any] = {
            k: row[k] for k in ("category", "signal", "track", "domain", "locale", "age_group") if k in row
        }
        if "turns" in row:
            obj["turns"] = json_field(row["turns"], where, "turns")
        elif isinstance(row.get("message"), str):
            obj["turns"] = [{"role": "user", "content": row["message"]}]
        provisional = item_from_json(obj | {"id": "inline"}, source=source, line=line)
        obj["id"] = str(item_id) if item_id else f"inline-{provisional.content_hash()[:12]}"
        return item_from_json(obj, source=source, line=line)
    if item_id is None:
        raise CalibrationError(f"{where}: no item: give item_id (with --set) or the item's fields")
    if item_set is None:
        raise CalibrationError(f"{where}: field 'item_id': needs --set to resolve item ids")
    found = by_id.get(str(item_id))
    if found is None:
        raise CalibrationError(f"{where}: field 'item_id': {str(item_id)[:80]!r} is not in set {item_set.name}")
    return found


def _level(value: Any, where: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CalibrationError(f"{where}: field 'level': must be an integer 1-5") from None
    if isinstance(value, bool) or number != int(number) or not 1 <= number <= 5:
        raise CalibrationError(f"{where}: field 'level': must be an integer 1-5")
    return int(number)


def _checklist(row: Mapping[str, Any], where: str) -> dict[str, str]:
    raw = row.get("checklist")
    answers: dict[str, str] = {}
    if raw is not None:
        parsed = json_field(raw, where, "checklist")
        if not isinstance(parsed, dict):
            raise CalibrationError(f"{where}: field 'checklist': must be an object of question id to answer")
        for qid, entry in parsed.items():
            answer = entry.get("answer") if isinstance(entry, dict) else entry
            answers[str(qid)] = str(answer).strip().lower()
    for qid in QUESTION_IDS:
        if qid in row and qid not in answers:
            answers[qid] = str(row[qid]).strip().lower()
    bad = [q for q, a in answers.items() if q not in QUESTION_IDS or a not in ("yes", "no", "n/a")]
    if bad:
        raise CalibrationError(
            f"{where}: field 'checklist': {bad[0]!s:.10} needs a question id R1-Q4 and yes, no or n/a"
        )
    return answers


K = TypeVar("K", bound=Hashable)


def rater_and_model(row: Mapping[str, Any]) -> tuple[str, str | None]:
    """Who rated (blank: "rater") and whose reply it was (blank: no model named)."""
    rater = str(row.get("rater") or "rater").strip() or "rater"
    model = row.get("model")
    return rater, str(model).strip() if model not in (None, "") else None


def note_rating(first_line: dict[tuple[K, str], int], key: K, rater: str, number: int, where: str, unit: str) -> None:
    """Line `number` holds `rater`'s rating of the `unit` (pair, conversation) `key`; a second
    rating of it by the same rater is refused, naming the line of the first."""
    if (key, rater) in first_line:
        raise CalibrationError(
            f"{where}: rater {rater[:40]!r} already rated this {unit} on line {first_line[(key, rater)]}"
        )
    first_line[(key, rater)] = number


def load_ratings(path: str | Path, item_set: ItemSet | None = None) -> list[Pair]:
    """Read a ratings file into pairs; CalibrationError or ItemSetError naming line and field."""
    p = Path(path)
    by_id = {i.id: i for i in item_set.items} if item_set is not None else {}
    pairs: dict[tuple[str, str, str | None], Pair] = {}
    first_line: dict[tuple[tuple[str, str, str | None], str], int] = {}
    for number, row in read_rows(p):
        where = f"{p.name} line {number}"
        item = _item_for(row, p.name, number, item_set, by_id)
        reply = row.get("reply")
        if not isinstance(reply, str):
            raise CalibrationError(f"{where}: field 'reply': missing or not text")
        level = _level(row.get("level"), where)
        rater, model = rater_and_model(row)
        pair = Pair(item, reply, model)
        key = (pair.item_key, pair.reply_hash, model)
        pair = pairs.setdefault(key, pair)
        note_rating(first_line, key, rater, number, where, "pair")
        pair.levels[rater] = level
        answers = _checklist(row, where)
        if answers:
            pair.checklists[rater] = answers
    if not pairs:
        raise CalibrationError(f"{p}: holds no ratings")
    return list(pairs.values())
