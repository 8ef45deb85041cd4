"""Near-duplicate items: word 5-gram shingles compared by Jaccard similarity.

Exact duplicates are found by their normalised text; near ones through an inverted index of
shingles, so adding a file costs one lookup per item rather than a comparison with every item.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from evaluator.audit import ngrams, words
from evaluator.items import Item

NEAR_DUPLICATE: Final = 0.8  # word 5-gram Jaccard similarity
SHINGLE: Final = 5


def item_text(item: Item) -> str:
    return " ".join(turn.content for turn in item.turns)


def _shingles(tokens: Sequence[str]) -> frozenset[str]:
    size = min(SHINGLE, len(tokens))
    return frozenset(" ".join(g) for g in ngrams(tokens, size)) if size else frozenset()


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    new_id: str
    existing_id: str
    similarity: float  # 1.0 for an exact (normalised) duplicate
    existing_status: str  # "in the set", "retired", "earlier in this file"

    @property
    def exact(self) -> bool:
        return self.similarity >= 1.0


class DuplicateIndex:
    def __init__(self) -> None:
        self.exact: dict[str, tuple[str, str]] = {}
        self.shingles: list[tuple[str, str, frozenset[str]]] = []
        self.postings: dict[str, list[int]] = defaultdict(list)

    def add(self, item: Item, status: str) -> None:
        tokens = words(item_text(item))
        if not tokens:  # nothing but emoji or punctuation: no text to compare
            return
        self.exact.setdefault(" ".join(tokens), (item.id, status))
        grams = _shingles(tokens)
        position = len(self.shingles)
        self.shingles.append((item.id, status, grams))
        for gram in grams:
            self.postings[gram].append(position)

    def find(self, item: Item, threshold: float) -> DuplicateMatch | None:
        """The closest earlier item at or above `threshold`, exact duplicates first."""
        tokens = words(item_text(item))
        if not tokens:
            return None
        hit = self.exact.get(" ".join(tokens))
        if hit is not None:
            return DuplicateMatch(item.id, hit[0], 1.0, hit[1])
        grams = _shingles(tokens)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self.postings.get(gram, ()))
        best: DuplicateMatch | None = None
        for position, common in shared.items():
            other_id, status, other = self.shingles[position]
            similarity = common / len(grams | other)
            if similarity >= threshold and (best is None or similarity > best.similarity):
                best = DuplicateMatch(item.id, other_id, round(similarity, 3), status)
        return best


__all__ = ["NEAR_DUPLICATE", "SHINGLE", "DuplicateIndex", "DuplicateMatch", "item_text"]
