"""Near-duplicate records of a set: word 5-gram shingles compared by Jaccard similarity.

Exact duplicates are found by their normalised text; near ones through an inverted index of
shingles, so adding a file costs one lookup per record rather than a comparison with every one.
One index for every kind of set: items compare their turns (`item_text`), personas their
opening and situation (evaluator.conversation.persona_sets hands in its own text function).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

from evaluator.audit import ngrams, words
from evaluator.items import Item

NEAR_DUPLICATE: Final = 0.8  # word 5-gram Jaccard similarity
SHINGLE: Final = 5


class Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=Identified)


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
    existing_status: str  # "in the set", "retired", "public", "earlier in this file"

    @property
    def exact(self) -> bool:
        return self.similarity >= 1.0


class DuplicateIndex(Generic[R]):
    """Records of one kind, compared by the text `text_of` gives (`item_text` for items)."""

    def __init__(self, text_of: Callable[[R], str]) -> None:
        self.text_of = text_of
        self.exact: dict[str, tuple[str, str]] = {}
        self.shingles: list[tuple[str, str, frozenset[str]]] = []
        self.postings: dict[str, list[int]] = defaultdict(list)

    def add(self, item: R, status: str) -> None:
        tokens = words(self.text_of(item))
        if not tokens:  # nothing but emoji or punctuation: no text to compare
            return
        self.exact.setdefault(" ".join(tokens), (item.id, status))
        grams = _shingles(tokens)
        position = len(self.shingles)
        self.shingles.append((item.id, status, grams))
        for gram in grams:
            self.postings[gram].append(position)

    def find(self, item: R, threshold: float) -> DuplicateMatch | None:
        """The closest earlier record at or above `threshold`, exact duplicates first."""
        tokens = words(self.text_of(item))
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
