"""Progress of a run's stages: tqdm bars on stderr and/or a callback (the worker publishes it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OnProgress = Callable[[str, int, int], None]  # (stage, done, total)


class Progress:
    """tqdm on stderr when asked for, and/or a callback (the worker publishes progress)."""

    def __init__(self, enabled: bool, total: int, desc: str, callback: OnProgress | None = None) -> None:
        self._bar: Any = None
        self._desc, self._total, self._done, self._callback = desc, total, 0, callback
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="item", leave=False, dynamic_ncols=True)
        if callback is not None:
            callback(desc, 0, total)

    def update(self, n: int = 1) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(self._desc, self._done, self._total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass(frozen=True)
class Reporter:
    bars: bool = False
    callback: OnProgress | None = None

    def bar(self, total: int, desc: str) -> Progress:
        return Progress(self.bars, total, desc, self.callback)


QUIET = Reporter()
