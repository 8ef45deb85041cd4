"""Which item set version new requests target (the duplicate check is per set version).

The set is named as `python -m evaluator run --set` names it (a path, `public-sample`, or
NAME[@VERSION] under <data>/sets); the deployment picks it with $CRISIS_SET.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from evaluator.catalog import resolve_set
from evaluator.items import ItemSet, ItemSetError
from evaluator.storage import DataDir
from submissions.errors import SubmissionError

DEFAULT_SET: Final = "public-sample"


@dataclass(frozen=True)
class SetRef:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def of(cls, item_set: ItemSet) -> SetRef:
        return cls(item_set.name, item_set.version)


def configured_set_name(explicit: str | None = None) -> str:
    return explicit or os.environ.get("CRISIS_SET") or DEFAULT_SET


def load_current_set(data: DataDir, explicit: str | None = None) -> ItemSet:
    try:
        return resolve_set(configured_set_name(explicit), data)
    except ItemSetError as exc:
        raise SubmissionError(f"cannot load the current item set: {exc}") from None


def current_set(data: DataDir, explicit: str | None = None) -> SetRef:
    return SetRef.of(load_current_set(data, explicit))
