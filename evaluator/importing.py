"""Import an existing labelled dataset (CSV, JSONL or Parquet) as items, via a column mapping.

Maintainers bring data whose labels are spelt their own way (`self-harm`, `Suicidal`);
the mapping turns them into the seven protocol labels. A row that cannot be mapped is
reported with its row number and reason (never its text: it may be held-out material) and
never silently dropped. Choices made for real published datasets:

- A source without a signal column gets signal `unknown` (PROTOCOL section 2): it carries
  no signal annotation, and per-signal figures leave such items out.
- An empty or null label is its own case: reported apart, and mappable (`--map ''=LABEL`
  or `--map-empty LABEL`), since some datasets leave "no crisis" rows unlabelled.
- A repeated id names the row that had it first; the same text under two labels is a
  conflict, reported with both rows, and neither row is imported (which label is right is
  for a person to decide, not the importer); the same text under the same label is a
  duplicate of the first row.
- A text given as a list of sentences (one turn split into sentences) is joined.
- Labels that map to nothing are summarised by value and count before any row is listed:
  a published set with an unexpected spelling has hundreds of such rows, one value.
- `--where COLUMN=VALUE` keeps only matching rows (repeat a column for any of its values;
  different columns must all match); rows left out are counted, never rejected, so a subset
  of a published set needs no `--max-rejected` to get through.
- Source columns may be kept as the item's `notes` (free text, bounded), `track`
  (`support` or `adversarial`) and `domain` (PROTOCOL section 3's domains).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from evaluator.items import Item, ItemSetError, Turn
from evaluator.protocol.taxonomy import CATEGORIES, DOMAINS, ITEM_SIGNALS, TRACKS, UNKNOWN_SIGNAL
from evaluator.wording import counted

if TYPE_CHECKING:
    import pandas as pd

# Bounds on the input, checked before reading it.
MAX_IMPORT_BYTES: Final = 512 * 1024 * 1024
MAX_IMPORT_ROWS: Final = 1_000_000
# The import fails when it rejects more than this share of the rows (--max-rejected).
DEFAULT_MAX_REJECTED: Final = 0.10
# `--map` sources that stand for an empty or null label.
EMPTY_LABEL_SPELLINGS: Final = frozenset({"", "''", '""'})
MAX_NOTES_CHARS: Final = 2000  # a --notes-column cell longer than this is cut, marked with "…"
MAX_WHERE: Final = 32  # --where filters
MAX_SHOWN_LABELS: Final = 20  # distinct unmapped labels listed in the summary


@dataclass(frozen=True)
class ColumnMapping:
    text: str
    label: str
    id: str | None = None
    signal: str | None = None
    default_signal: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # source label -> protocol label
    empty_label: str | None = None  # protocol label for rows whose label is empty or null
    id_prefix: str = "imp"
    source: str | None = None
    notes: str | None = None  # column kept as the item's notes
    track: str | None = None  # column holding support / adversarial
    domain: str | None = None  # column holding a PROTOCOL domain
    where: tuple[tuple[str, str], ...] = ()  # (column, value): keep only matching rows


@dataclass(frozen=True)
class Rejected:
    row: int  # 1-based data row number (header excluded)
    reason: str
    kind: str = "other"  # "empty_label", "label", "duplicate", "conflict", "text", "id", "signal", "track", "domain"
    value: str | None = None  # the source label a "label" rejection could not map


@dataclass(frozen=True)
class ImportResult:
    items: list[Item]
    rejected: list[Rejected]
    rows: int = 0  # rows considered: those --where kept
    empty_labels_mapped: int = 0  # rows whose empty or null label was mapped
    filtered_out: int = 0  # rows --where left out (neither imported nor rejected)

    @property
    def rejected_fraction(self) -> float:
        return len(self.rejected) / self.rows if self.rows else 0.0

    def count(self, kind: str) -> int:
        return sum(1 for r in self.rejected if r.kind == kind)

    def unmapped_labels(self) -> list[tuple[str, int]]:
        """Each source label that mapped to nothing and its number of rows, most rows first."""
        counts = Counter(r.value for r in self.rejected if r.kind == "label" and r.value is not None)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def report(self) -> str:
        """Summaries first (unmapped labels by value and count, empty labels, conflicts),
        then the rows, at most 50."""
        lines = [
            f"imported {counted(len(self.items), 'item')}, "
            f"{counted(len(self.rejected), 'row')} could not be mapped"
            + (f", {counted(self.filtered_out, 'row')} left out by --where" if self.filtered_out else "")
        ]
        unmapped = self.unmapped_labels()
        if unmapped:
            shown = ", ".join(f"{label!r} ({counted(n, 'row')})" for label, n in unmapped[:MAX_SHOWN_LABELS])
            more = f" and {len(unmapped) - MAX_SHOWN_LABELS} more" if len(unmapped) > MAX_SHOWN_LABELS else ""
            lines.append(f"  unmapped labels: {shown}{more} (map each with --map SOURCE=LABEL)")
        empty, conflicts, mapped = self.count("empty_label"), self.count("conflict"), self.empty_labels_mapped
        if empty:
            lines.append(
                f"  {counted(empty, 'row')} {'has' if empty == 1 else 'have'} an empty or null label "
                "(map them with --map-empty LABEL or --map ''=LABEL)"
            )
        if mapped:
            lines.append(
                f"  {counted(mapped, 'row')} with an empty or null label {'was' if mapped == 1 else 'were'} mapped"
            )
        if conflicts:
            verb = "repeats" if conflicts == 1 else "repeat"
            lines.append(f"  {counted(conflicts, 'row')} {verb} a text under a different label (conflicts)")
        lines += [f"  row {r.row}: {r.reason}" for r in self.rejected[:50]]
        if len(self.rejected) > 50:
            lines.append(f"  … and {len(self.rejected) - 50} more")
        return "\n".join(lines)


def _normalise(label: str) -> str:
    return re.sub(r"[\s\-]+", "_", label.strip().lower())


def parse_where(pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`--where COLUMN=VALUE` pairs, bounded; the value may be empty (rows where it is empty)."""
    if len(pairs) > MAX_WHERE:
        raise ItemSetError(f"--where: at most {MAX_WHERE} filters")
    out: list[tuple[str, str]] = []
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column.strip():
            raise ItemSetError(f"--where {pair[:80]!r}: expected COLUMN=VALUE")
        out.append((column.strip(), value.strip()))
    return tuple(out)


def _cell_text(value: Any) -> str:
    return "" if _is_null(value) else str(value).strip()


def _kept_by(where: Sequence[tuple[str, str]]) -> Callable[[Mapping[Any, Any]], bool]:
    """Row predicate: for each column named, the cell equals one of its values."""
    wanted: dict[str, set[str]] = {}
    for column, value in where:
        wanted.setdefault(column, set()).add(value)

    def keep(row: Mapping[Any, Any]) -> bool:
        return all(_cell_text(row.get(column)) in values for column, values in wanted.items())

    return keep


def parse_label_map(pairs: list[str]) -> dict[str, str]:
    """`self-harm=self_harm` pairs from the command line; `''=no_crisis` (or `=no_crisis`)
    maps empty and null labels, under the key ""."""
    out: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.rpartition("=")
        if not sep:
            raise ItemSetError(f"--map {pair!r}: expected SOURCE=LABEL")
        if target not in CATEGORIES:
            raise ItemSetError(f"--map {pair!r}: {target!r} is not one of {', '.join(CATEGORIES)}")
        key = source.strip()
        out["" if key in EMPTY_LABEL_SPELLINGS else key] = target
    return out


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _joined_text(value: Any) -> str | None:
    """The text of a cell: a string, or a list of sentences joined with spaces (also a CSV
    cell holding a JSON list of strings); None when it is neither."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return value
            if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
                return _join(parsed)
        return value
    if isinstance(value, Sequence) or type(value).__name__ == "ndarray":
        parts = list(value)
        if parts and all(isinstance(p, str) for p in parts):
            return _join(parts)
    return None


def _join(parts: Sequence[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _text_key(text: str) -> str:
    return " ".join(text.casefold().split())


def read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if not path.exists():
        raise ItemSetError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_IMPORT_BYTES:
        raise ItemSetError(f"{path.name}: {size} bytes, more than the {MAX_IMPORT_BYTES} an import may read")
    import pandas as pd  # here, not at the top: `python -m evaluator` starts without pandas

    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise ItemSetError(f"{path.name}: cannot read as {suffix[1:]} ({type(exc).__name__})") from None
    raise ItemSetError(f"{path.name}: unsupported format (use .csv, .jsonl or .parquet)")


def import_items(path: str | Path, mapping: ColumnMapping) -> ImportResult:
    p = Path(path)
    if mapping.default_signal is not None and mapping.default_signal not in ITEM_SIGNALS:
        raise ItemSetError(f"--default-signal must be one of {', '.join(ITEM_SIGNALS)}")
    frame = read_table(p)
    if len(frame) > MAX_IMPORT_ROWS:
        raise ItemSetError(f"{p.name}: {len(frame)} rows, more than the {MAX_IMPORT_ROWS} an import may take")
    wanted = (mapping.text, mapping.label, mapping.id, mapping.signal, mapping.notes, mapping.track, mapping.domain)
    for column in (*wanted, *(c for c, _ in mapping.where)):
        if column is not None and column not in frame.columns:
            raise ItemSetError(f"{p.name}: no column {column!r} (columns: {', '.join(map(str, frame.columns))})")
    # No signal column: the source carries no signal annotation.
    default_signal = mapping.default_signal or (UNKNOWN_SIGNAL if mapping.signal is None else None)
    labels = {_normalise(k): v for k, v in mapping.labels.items()}
    empty_label = mapping.empty_label or labels.get("")
    items: list[Item | None] = []  # None: removed as one side of a conflict
    rejected: list[Rejected] = []
    first_row_of_id: dict[str, int] = {}
    # text key -> (first row, its category, index in items or -1 once removed as a conflict)
    first_of_text: dict[str, tuple[int, str, int]] = {}
    empty_mapped = 0
    records: list[dict[Any, Any]] = frame.to_dict(orient="records")
    keep = _kept_by(mapping.where)
    considered = 0
    for row_number, row in enumerate(records, start=1):
        if not keep(row):
            continue
        considered += 1
        text = _joined_text(row.get(mapping.text))
        if text is None or not text.strip():
            rejected.append(Rejected(row_number, f"empty text in column {mapping.text!r}", "text"))
            continue
        raw_label = row.get(mapping.label)
        raw = "" if _is_null(raw_label) else str(raw_label)
        key = _normalise(raw)
        if not key:
            if empty_label is None:
                rejected.append(
                    Rejected(row_number, "empty or null label (add --map-empty LABEL or --map ''=LABEL)", "empty_label")
                )
                continue
            category: str | None = empty_label
            empty_mapped += 1
        else:
            category = labels.get(key) or (key if key in CATEGORIES else None)
        if category is None:
            shown = raw if len(raw) <= 40 else raw[:40] + "…"
            reason = f"label {shown!r} maps to no protocol label (add --map)"
            rejected.append(Rejected(row_number, reason, "label", value=shown))
            continue
        if mapping.signal is not None:
            cell = row.get(mapping.signal)
            signal = _normalise("" if _is_null(cell) else str(cell))
            if signal not in ITEM_SIGNALS:
                if default_signal is None:
                    shown = signal if len(signal) <= 40 else signal[:40] + "…"
                    rejected.append(
                        Rejected(row_number, f"signal {shown!r} is not one of {', '.join(ITEM_SIGNALS)}", "signal")
                    )
                    continue
                signal = default_signal
        else:
            assert default_signal is not None
            signal = default_signal
        track, domain = "support", None
        if mapping.track is not None:
            track = _normalise(_cell_text(row.get(mapping.track))) or "support"
            if track not in TRACKS:
                shown = track if len(track) <= 40 else track[:40] + "…"
                rejected.append(Rejected(row_number, f"track {shown!r} is not one of {', '.join(TRACKS)}", "track"))
                continue
        if mapping.domain is not None:
            domain = _normalise(_cell_text(row.get(mapping.domain))) or None
            if domain is not None and domain not in DOMAINS:
                shown = domain if len(domain) <= 40 else domain[:40] + "…"
                reason = f"domain {shown!r} is not one of {', '.join(DOMAINS)} (or empty)"
                rejected.append(Rejected(row_number, reason, "domain"))
                continue
        notes = None
        if mapping.notes is not None:
            notes = _cell_text(row.get(mapping.notes)) or None
            if notes is not None and len(notes) > MAX_NOTES_CHARS:
                notes = notes[: MAX_NOTES_CHARS - 1] + "…"
        if mapping.id is not None:
            cell = row.get(mapping.id)
            item_id = "" if _is_null(cell) else str(cell).strip()
        else:
            item_id = f"{mapping.id_prefix}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"
        if not item_id:
            rejected.append(Rejected(row_number, "empty id", "id"))
            continue
        text_key = _text_key(text)
        earlier = first_of_text.get(text_key)
        if earlier is not None:
            first_row, first_category, index = earlier
            if first_category != category:
                reason = f"conflict: same text as row {first_row}, labelled {first_category!r} there, {category!r} here"
                rejected.append(Rejected(row_number, reason, "conflict"))
                if index >= 0:
                    # Neither label wins: the first row leaves the import too, reported as such.
                    items[index] = None
                    rejected.append(
                        Rejected(first_row, f"conflict: same text as row {row_number} with another label", "conflict")
                    )
                    first_of_text[text_key] = (first_row, first_category, -1)
            else:
                rejected.append(Rejected(row_number, f"duplicate text of row {first_row}", "duplicate"))
            continue
        if item_id in first_row_of_id:
            reason = f"duplicate id {item_id[:40]!r} (first in row {first_row_of_id[item_id]})"
            rejected.append(Rejected(row_number, reason, "duplicate"))
            continue
        first_row_of_id[item_id] = row_number
        first_of_text[text_key] = (row_number, category, len(items))
        items.append(
            Item(
                id=item_id,
                category=category,
                signal=signal,
                turns=(Turn("user", text.strip()),),
                track=track,
                domain=domain,
                source=mapping.source or p.name,
                notes=notes,
            )
        )
    kept = [i for i in items if i is not None]
    rejected.sort(key=lambda r: r.row)
    return ImportResult(
        kept, rejected, rows=considered, empty_labels_mapped=empty_mapped, filtered_out=len(records) - considered
    )
