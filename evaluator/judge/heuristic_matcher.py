"""The offline judge's regex engine: many patterns over one reply, run only where they can match.

Generic machinery with no vocabulary of its own: `heuristic` builds one `Matcher` per feature
of the lexicon and one `Index` over all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

_META: Final = frozenset("\\()[]{}?*+|.^$")


def split_branches(pattern: str) -> list[str]:
    """The pattern split at its top-level `|`, so each part can be guarded on its own."""
    parts: list[str] = []
    depth = 0
    start = 0
    escaped = False
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _literal_prefix(pattern: str) -> str:
    run = ""
    for ch in pattern:
        if ch in _META:
            break
        run += ch
    if len(run) < len(pattern) and pattern[len(run)] in "?*{":
        run = run[:-1]  # the last character is optional
    return run


def _guards(branch: str) -> tuple[str, ...] | None:
    """Literals of which every match of this branch contains one; None if unsure."""
    body = branch.removeprefix("\\b")
    if not body.startswith("(?:"):
        literal = _literal_prefix(body)
        return (literal,) if len(literal) >= 2 else None
    depth = 0
    for i, ch in enumerate(body):
        if ch == "(" and body[i - 1 : i] != "\\":
            depth += 1
        elif ch == ")" and body[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                if body[i + 1 : i + 2] in ("?", "*", "{"):
                    return None  # an optional group: nothing in it is required
                literals = tuple(_literal_prefix(alt) for alt in split_branches(body[3:i]))
                return literals if all(len(lit) >= 2 for lit in literals) else None
    return None


_TOKEN: Final = re.compile(r"[a-z0-9]+")
_WORD_CACHE_LIMIT: Final = 200_000


class _Branch:
    """One top-level branch of a feature's pattern; hashed by identity, as sets need it."""

    __slots__ = ("bounded", "guards", "matcher", "order", "regex")

    def __init__(self, matcher: int, order: int, pattern: str) -> None:
        self.matcher = matcher  # which Matcher it belongs to
        self.order = order  # its position there: the first matching branch supplies the evidence
        self.bounded = pattern.startswith("\\b")  # checked on the match instead
        self.regex = re.compile(pattern[2:] if self.bounded else pattern)
        self.guards = _guards(pattern)

    def search(self, text: str, pos: int) -> re.Match[str] | None:
        """The first match from `pos` on, with the leading word boundary checked here."""
        regex, bounded = self.regex, self.bounded
        while (m := regex.search(text, pos)) is not None:
            start = m.start()
            if not bounded or start == 0 or not _is_word(text[start - 1]):
                return m
            pos = start + 1
        return None


Candidates = Mapping[int, Sequence[_Branch]]


class Matcher:
    """One feature's patterns, split into top-level branches compiled one by one.

    Python's regex engine tries every position of the text unless a pattern starts with a
    literal or a character set, and a leading word boundary hides those: run as written,
    some 250 patterns cost a millisecond per reply. So a branch runs only when `Index`
    finds a word that can start its match, and without its leading boundary, which is
    checked on the match instead (every bounded branch starts with a word character, so
    that is equivalent).
    """

    _count = 0

    def __init__(self, patterns: Sequence[str]) -> None:
        self.key = Matcher._count
        Matcher._count += 1
        parts = [part for pattern in patterns for part in split_branches(pattern)]
        self.branches = tuple(_Branch(self.key, order, part) for order, part in enumerate(parts))

    def finditer(self, text: str, candidates: Candidates) -> Iterator[re.Match[str]]:
        for branch in candidates.get(self.key, ()):
            pos = 0
            while (m := branch.search(text, pos)) is not None:
                yield m
                pos = max(m.end(), m.start() + 1)

    def search(self, text: str, candidates: Candidates) -> re.Match[str] | None:
        # finditer's first match without a generator: this runs some 30 times per reply.
        for branch in candidates.get(self.key, ()):
            if (m := branch.search(text, 0)) is not None:
                return m
        return None


class Index:
    """Which branches can match a text, from the words in it (one pass over the text).

    A bounded branch matches only where a word starts, and that word begins with the
    leading run of letters and digits of one of the branch's guard literals. Branches whose
    guards give no run of 3 or more characters (short words such as "i'm") fall back to a
    substring test on the guards, and branches with no guard at all always run. What each
    word selects is cached: replies share most of their vocabulary.
    """

    def __init__(self, matchers: Iterable[Matcher]) -> None:
        self._unguarded: list[_Branch] = []
        self._by_substring: list[tuple[str, _Branch]] = []
        self._by_prefix: dict[str, list[tuple[str, _Branch]]] = {}
        self._words: dict[str, tuple[_Branch, ...]] = {}
        for matcher in matchers:
            for branch in matcher.branches:
                if branch.guards is None:
                    self._unguarded.append(branch)
                    continue
                heads = [m.group() if (m := _TOKEN.match(g)) else "" for g in branch.guards]
                if not branch.bounded or min(len(h) for h in heads) < 3:
                    self._by_substring += [(g, branch) for g in branch.guards]
                    continue
                for head in heads:
                    self._by_prefix.setdefault(head[:3], []).append((head, branch))

    def candidates(self, text: str) -> Candidates:
        found = set(self._unguarded)
        for guard, branch in self._by_substring:
            if guard in text:
                found.add(branch)
        words = self._words
        for word in set(_TOKEN.findall(text)):
            hits = words.get(word)
            if hits is None:
                hits = tuple(b for head, b in self._by_prefix.get(word[:3], ()) if word.startswith(head))
                if len(words) >= _WORD_CACHE_LIMIT:
                    words.clear()
                words[word] = hits
            if hits:
                found.update(hits)
        grouped: dict[int, list[_Branch]] = {}
        for branch in found:
            grouped.setdefault(branch.matcher, []).append(branch)
        for branches in grouped.values():
            branches.sort(key=_order)
        return grouped


def _order(branch: _Branch) -> int:
    return branch.order


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"
