"""Import an existing labelled dataset (CSV, JSONL or Parquet) as items, via a column mapping.

Maintainers bring data whose labels are spelt their own way (`self-harm`, `Suicidal`);
the mapping turns them into the seven protocol labels. A row that cannot be mapped is
reported with its row number and reason (never its text: it may be held-out material) and
never silently dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaluator.items import Item, ItemSetError, Turn
from evaluator.protocol.taxonomy import CATEGORIES, SIGNALS


@dataclass(frozen=True)
class ColumnMapping:
    text: str
    label: str
    id: str | None = None
    signal: str | None = None
    default_signal: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # source label -> protocol label
    id_prefix: str = "imp"
    source: str | None = None


@dataclass(frozen=True)
class Rejected:
    row: int  # 1-based data row number (header excluded)
    reason: str


@dataclass(frozen=True)
class ImportResult:
    items: list[Item]
    rejected: list[Rejected]

    def report(self) -> str:
        lines = [f"imported {len(self.items)} items, {len(self.rejected)} rows could not be mapped"]
        lines += [f"  row {r.row}: {r.reason}" for r in self.rejected[:50]]
        if len(self.rejected) > 50:
            lines.append(f"  … and {len(self.rejected) - 50} more")
        return "\n".join(lines)


def _normalise(label: str) -> str:
    return re.sub(r"[\s\-]+", "_", label.strip().lower())


def parse_label_map(pairs: list[str]) -> dict[str, str]:
    """`self-harm=self_harm` pairs from the command line."""
    out: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip():
            raise ItemSetError(f"--map {pair!r}: expected SOURCE=LABEL")
        if target not in CATEGORIES:
            raise ItemSetError(f"--map {pair!r}: {target!r} is not one of {', '.join(CATEGORIES)}")
        out[source.strip()] = target
    return out


def read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if not path.exists():
        raise ItemSetError(f"{path}: no such file")
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
    frame = read_table(p)
    for column in (mapping.text, mapping.label, mapping.id, mapping.signal):
        if column is not None and column not in frame.columns:
            raise ItemSetError(f"{p.name}: no column {column!r} (columns: {', '.join(map(str, frame.columns))})")
    if mapping.signal is None and mapping.default_signal is None:
        raise ItemSetError("give --signal-column or --default-signal (explicit, indirect or ambiguous)")
    if mapping.default_signal is not None and mapping.default_signal not in SIGNALS:
        raise ItemSetError(f"--default-signal must be one of {', '.join(SIGNALS)}")
    labels = {_normalise(k): v for k, v in mapping.labels.items()}
    items: list[Item] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    records: list[dict[Any, Any]] = frame.to_dict(orient="records")
    for row_number, row in enumerate(records, start=1):
        text = row.get(mapping.text)
        if not isinstance(text, str) or not text.strip():
            rejected.append(Rejected(row_number, f"empty text in column {mapping.text!r}"))
            continue
        raw_label = row.get(mapping.label)
        raw = "" if raw_label is None else str(raw_label)
        key = _normalise(raw)
        category = labels.get(key) or (key if key in CATEGORIES else None)
        if category is None:
            shown = raw if len(raw) <= 40 else raw[:40] + "…"
            rejected.append(Rejected(row_number, f"label {shown!r} maps to no protocol label (add --map)"))
            continue
        if mapping.signal is not None:
            signal = _normalise(str(row.get(mapping.signal) or ""))
            if signal not in SIGNALS:
                if mapping.default_signal is None:
                    rejected.append(Rejected(row_number, f"signal {signal!r} is not explicit, indirect or ambiguous"))
                    continue
                signal = mapping.default_signal
        else:
            assert mapping.default_signal is not None
            signal = mapping.default_signal
        if mapping.id is not None:
            item_id = str(row.get(mapping.id) or "").strip()
        else:
            item_id = f"{mapping.id_prefix}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"
        if not item_id:
            rejected.append(Rejected(row_number, "empty id"))
            continue
        if item_id in seen:
            rejected.append(Rejected(row_number, f"duplicate id {item_id[:40]!r}"))
            continue
        seen.add(item_id)
        items.append(
            Item(
                id=item_id,
                category=category,
                signal=signal,
                turns=(Turn("user", text.strip()),),
                source=mapping.source or p.name,
            )
        )
    return ImportResult(items, rejected)
