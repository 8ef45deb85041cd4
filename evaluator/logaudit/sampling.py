"""The seeded review sample of unflagged conversations (PROTOCOL section 10).

Each conversation gets a key, a hash of the seed and its position in the log; the sample is
the N unflagged conversations with the smallest keys. That is a uniform random sample
without replacement (every conversation's key is an independent uniform draw), it needs a
heap of N entries and one pass however long the log, it does not depend on the order in
which a resumed run finished its batches, and a larger N keeps every conversation a smaller
N drew, so labels already given stay valid when the sample grows.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field
from typing import Any, Final

MAX_SAMPLE: Final = 10_000


def sample_key(seed: int, position: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{position}".encode(), digest_size=8, person=b"logaudit-review").digest()
    return int.from_bytes(digest, "big")


@dataclass
class BottomK:
    """The `size` entries with the smallest keys seen so far."""

    size: int
    _heap: list[tuple[int, int, Any]] = field(default_factory=list)  # (-key, position, value)

    def wants(self, key: int) -> bool:
        """Whether an entry with this key would be kept (so its value is worth building)."""
        return self.size > 0 and (len(self._heap) < self.size or key < -self._heap[0][0])

    def offer(self, key: int, position: int, value: Any) -> None:
        if self.size <= 0:
            return
        entry = (-key, position, value)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, entry)
        elif key < -self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)

    def smallest(self) -> list[Any]:
        """The kept values, smallest key first."""
        return [value for _, _, value in sorted(self._heap, key=lambda e: (-e[0], e[1]))]
