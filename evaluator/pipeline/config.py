"""What a run is asked to do (RunConfig), what it came to (RunOutcome), and the samples rule."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evaluator.backends import BackendOptions, GenerationParams
from evaluator.items import Item, ItemSet

DETECTION_MAX_NEW_TOKENS = 32
MAX_SAMPLES = 64
SAMPLE_MARK = "#sample-"


class RunError(RuntimeError):
    """A run that cannot start (bad spec, unreachable model); one actionable line."""


@dataclass(frozen=True)
class RunConfig:
    model: str
    item_set: ItemSet
    judges: tuple[str, ...] = ("heuristic",)
    params: GenerationParams = field(default_factory=GenerationParams)
    model_options: BackendOptions = field(default_factory=BackendOptions)
    judge_options: BackendOptions = field(default_factory=BackendOptions)
    detection: bool = True
    bootstrap_rounds: int = 1000  # no effect since protocol version 3 (no bootstrap); kept for callers
    seed: int = 0
    # Replies per item (consistency across samples): sample k is generated with seed
    # params.seed + k; more than one needs a temperature above 0.
    samples: int = 1

    def check(self) -> None:
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise RunError(f"--samples must be 1-{MAX_SAMPLES}, got {self.samples}")
        if self.samples > 1 and self.params.deterministic:
            raise RunError("--samples above 1 needs --temperature above 0: greedy decoding gives one reply K times")

    @property
    def detection_params(self) -> GenerationParams:
        return replace(self.params, max_new_tokens=min(self.params.max_new_tokens, DETECTION_MAX_NEW_TOKENS))


@dataclass(frozen=True)
class RunOutcome:
    status: str  # "complete" | "incomplete" | "stopped" | "unscored" (nothing could be scored)
    run_id: str
    rows: list[dict[str, Any]]
    errors: int = 0
    reason: str | None = None
    result_file: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error_class: str | None = None  # for "unscored": the judge's most common failure class

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def sampled(item_set: ItemSet, samples: int) -> tuple[ItemSet, dict[str, tuple[Item, int]]]:
    """The run's replies as items: each item once per sample, sample 0 under its own id and
    sample k under `<id>#sample-<k>` (the judge never sees an id), with the item and sample
    each stands for. One sample: the set itself."""
    origin: dict[str, tuple[Item, int]] = {item.id: (item, 0) for item in item_set.items}
    if samples == 1:
        return item_set, origin
    runs = list(item_set.items)
    for k in range(1, samples):
        for item in item_set.items:
            sample_id = f"{item.id}{SAMPLE_MARK}{k}"
            if sample_id in origin:
                raise RunError(f"item id {sample_id!r} clashes with sample {k} of item {item.id!r}; rename it")
            origin[sample_id] = (item, k)
            runs.append(replace(item, id=sample_id))
    return ItemSet(item_set.name, item_set.version, tuple(runs), item_set.visibility), origin
