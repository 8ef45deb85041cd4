"""Several requests at once from one driver: slots of the same worker, one lease each.

Each slot is a full evaluator.worker.core.Worker (its own claim, heartbeat thread and settle),
sharing the queue, the store and the executor; the pool offers the worker's own `tick()` and
`shutdown()`, so the scheduler, `--once` and `--until-idle` drive it unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from evaluator.worker.core import Worker
from evaluator.worker.schedule import job

if TYPE_CHECKING:
    from evaluator.items import ItemSet


class WorkerPool:
    def __init__(self, first: Worker, slots: int, *, wait_all: bool = False) -> None:
        if slots < 1:
            raise ValueError("a pool needs at least one slot")
        self.config = first.config
        self.slots = [first]
        for n in range(2, slots + 1):
            config = replace(first.config, name=f"{first.config.name}/{n}")
            self.slots.append(
                Worker(config, queue=first.queue, store=first.store, executor=first.executor, evaluate=None)
            )
        # With --once a tick is one round (every slot at most one request); scheduled, a tick
        # returns when any slot is free again, so a long run never holds the others back.
        self._wait_all = wait_all
        self._threads: dict[int, threading.Thread] = {}
        self._results: dict[int, str] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def load_set(self) -> ItemSet:
        return self.slots[0].load_set()

    def tick(self) -> str:
        """Start every free slot (each claims at most one request); see `wait_all` for when it returns."""
        with self._changed:
            if len(self._threads) == len(self.slots):
                self._changed.wait_for(lambda: len(self._threads) < len(self.slots))
                return "busy"
            started = [n for n in range(len(self.slots)) if n not in self._threads]
            for n in started:

                def run(n: int = n) -> None:
                    result = job(self.slots[n])
                    with self._changed:
                        self._results[n] = result
                        del self._threads[n]
                        self._changed.notify_all()

                self._results.pop(n, None)
                self._threads[n] = threading.Thread(target=run, name=f"worker-slot-{n + 1}", daemon=True)
                self._threads[n].start()
            if self._wait_all:
                self._changed.wait_for(lambda: not any(n in self._threads for n in started))
            else:
                self._changed.wait_for(lambda: any(n not in self._threads for n in started))
            results = [self._results.get(n, "running") for n in started]
            busy = bool(self._threads)
        done = [r for r in results if r != "idle"]
        return ",".join(done) if done else ("running" if busy else "idle")

    def shutdown(self, grace_s: float) -> bool:
        clean = True
        for slot in self.slots:
            slot.stopping.set()
        for slot in self.slots:
            clean = slot.shutdown(grace_s) and clean
        return clean
