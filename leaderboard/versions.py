"""Which version of a set the leaderboard ranks on (PROTOCOL.md sections 3 and 9): item sets for
the single-turn boards, persona sets for the conversation boards, by the one rule below.

After a rotation the newest version starts with few models, and a ranking of two models says
little. Until it has `min_models` models ($CRISIS_RANK_MIN_MODELS, else 5) the newest version
with that many stays ranked, labelled as standing in (`RankedVersion.label`); with none that
has enough, the version with the most models (the newest of those tied). Versions are ordered
by `evaluator.catalog.version_key`, as everywhere. `leaderboard.boards.ranked_board` applies
this rule to boards (conversation boards are keyed by persona set version, and
`leaderboard.conversations.current_conversation_board` ranks them by it); `current_ranked_version`
applies it to a data folder's results, for a set of either kind.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow.parquet as pq

from evaluator.catalog import RotationError, frozen_versions, version_key
from evaluator.storage import DataDir

DEFAULT_MIN_MODELS: Final = 5
MIN_MODELS_ENV: Final = "CRISIS_RANK_MIN_MODELS"


@dataclass(frozen=True)
class RankedVersion:
    """The version the leaderboard should rank on, and why (for a visible label)."""

    set_name: str
    version: str
    models: int
    latest: str
    latest_models: int
    min_models: int

    @property
    def fallback(self) -> bool:
        """True while the newest version has too few models and an older one is shown."""
        return self.version != self.latest

    @property
    def label(self) -> str:
        shown = f"Ranking on {self.set_name} {self.version} ({self.models} models)."
        if not self.fallback:
            return shown
        return (
            f"{shown} The newest version, {self.latest}, has {self.latest_models} of the {self.min_models} "
            "models needed; its ranking replaces this one once enough models are evaluated on it."
        )


def default_min_models() -> int:
    raw = os.environ.get(MIN_MODELS_ENV)
    try:
        return max(1, int(raw)) if raw else DEFAULT_MIN_MODELS
    except ValueError:
        return DEFAULT_MIN_MODELS


def choose_ranked_version(
    set_name: str, models_per_version: Mapping[str, int], min_models: int, versions: Sequence[str] = ()
) -> RankedVersion | None:
    """The newest version with at least `min_models` models; else the one with the most (the
    newest of those tied); None when no version has enough and none has any.

    `versions` are the set's known versions (those with no models yet included: one cut but
    not evaluated yet counts as the newest, with no models); versions only seen in
    `models_per_version` are placed by their names.
    """
    order = sorted({*versions, *models_per_version}, key=version_key)
    if not order:
        return None
    latest = order[-1]
    counts = {v: int(models_per_version.get(v, 0)) for v in order}
    enough = [v for v in order if counts[v] >= min_models]
    if enough:
        chosen = enough[-1]
    elif any(counts.values()):
        chosen = max(reversed(order), key=lambda v: counts[v])
    else:
        return None
    return RankedVersion(set_name, chosen, counts[chosen], latest, counts[latest], min_models)


def models_per_version(data: DataDir, set_name: str) -> dict[str, int]:
    """Distinct (model, revision) with an `overall` result row, per version of `set_name`."""
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    if not data.results.is_dir():
        return {}
    wanted = ["model", "revision", "set_name", "set_version", "category"]
    for path in sorted(data.results.rglob("*.parquet")):
        try:
            names = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in wanted if c in names])
        except Exception:  # a corrupt result file is the board's to report, not a reason to fail here
            continue
        rows = table.to_pylist()
        for row in rows:
            if row.get("set_name") == set_name and row.get("category", "overall") == "overall":
                seen[str(row.get("set_version"))].add((str(row.get("model")), str(row.get("revision"))))
    return {version: len(models) for version, models in seen.items()}


def current_ranked_version(data: DataDir, set_name: str, min_models: int | None = None) -> RankedVersion | None:
    """Which version of `set_name` (an item set or a persona set) the leaderboard ranks on now
    (None with no results at all).

    The previous version stays on the board until the newest one has `min_models` models
    (default $CRISIS_RANK_MIN_MODELS, else 5); `RankedVersion.label` says so.
    """
    needed = default_min_models() if min_models is None else min_models
    try:
        versions = frozen_versions(data, set_name)
    except RotationError:
        versions = []
    return choose_ranked_version(set_name, models_per_version(data, set_name), needed, versions)


__all__ = [
    "DEFAULT_MIN_MODELS",
    "MIN_MODELS_ENV",
    "RankedVersion",
    "choose_ranked_version",
    "current_ranked_version",
    "default_min_models",
    "models_per_version",
]
