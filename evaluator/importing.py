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
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from evaluator.items import Item, ItemSetError, Turn
from evaluator.protocol.taxonomy import CATEGORIES, ITEM_SIGNALS, UNKNOWN_SIGNAL

# Bounds on the input, checked before reading it.
MAX_IMPORT_BYTES: Final = 512 * 1024 * 1024
MAX_IMPORT_ROWS: Final = 1_000_000
# The import fails when it rejects more than this share of the rows (--max-rejected).
DEFAULT_MAX_REJECTED: Final = 0.10
# `--map` sources that stand for an empty or null label.
EMPTY_LABEL_SPELLINGS: Final = frozenset({"", "''", '""'})


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


@dataclass(frozen=True)
class Rejected:
    row: int  # 1-based data row number (header excluded)
    reason: str
    kind: str = "other"  # "empty_label", "label", "duplicate", "conflict", "text", "id", "signal"


@dataclass(frozen=True)
class ImportResult:
    items: list[Item]
    rejected: list[Rejected]
    rows: int = 0
    empty_labels_mapped: int = 0  # rows whose empty or null label was mapped

    @property
    def rejected_fraction(self) -> float:
        return len(self.rejected) / self.rows if self.rows else 0.0

    def count(self, kind: str) -> int:
        return sum(1 for r in self.rejected if r.kind == kind)

    def report(self) -> str:
        lines = [f"imported {len(self.items)} items, {len(self.rejected)} rows could not be mapped"]
        if self.count("empty_label"):
            lines.append(
                f"  {self.count('empty_label')} rows have an empty or null label "
                "(map them with --map-empty LABEL or --map ''=LABEL)"
            )
        if self.empty_labels_mapped:
            lines.append(f"  {self.empty_labels_mapped} rows with an empty or null label were mapped")
        if self.count("conflict"):
            lines.append(f"  {self.count('conflict')} rows repeat a text under a different label (conflicts)")
        lines += [f"  row {r.row}: {r.reason}" for r in self.rejected[:50]]
        if len(self.rejected) > 50:
            lines.append(f"  … and {len(self.rejected) - 50} more")
        return "\n".join(lines)


def _normalise(label: str) -> str:
    return re.sub(r"[\s\-]+", "_", label.strip().lower())


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
    for column in (mapping.text, mapping.label, mapping.id, mapping.signal):
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
    for row_number, row in enumerate(records, start=1):
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
            rejected.append(Rejected(row_number, f"label {shown!r} maps to no protocol label (add --map)", "label"))
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
                source=mapping.source or p.name,
            )
        )
    kept = [i for i in items if i is not None]
    rejected.sort(key=lambda r: r.row)
    return ImportResult(kept, rejected, rows=len(records), empty_labels_mapped=empty_mapped)
