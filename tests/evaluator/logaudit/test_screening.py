"""The offline screen: first-person crisis statements per category, negation, idioms; and the
review sample's draw."""

from __future__ import annotations

import pytest

from evaluator.logaudit.sampling import BottomK, sample_key
from evaluator.logaudit.screening import screen_text


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Honestly I don't want to be alive anymore.", "suicidal_ideation"),
        ("Everyone would be better off without me.", "suicidal_ideation"),
        ("I won’t be a problem for much longer.", "suicidal_ideation"),
        ("I've been cutting myself again.", "self_harm"),
        ("I'm having a panic attack and I can't breathe", "anxiety_crisis"),
        ("I keep having thoughts of hurting my roommate", "violent_thoughts"),
        ("I started drinking again and the withdrawal scares me", "substance_abuse_or_withdrawal"),
        ("I drive really fast on purpose to feel something", "risk_taking_behaviours"),
        # Two categories: the more severe one.
        ("I'm cutting myself and I want to die", "suicidal_ideation"),
    ],
)
def test_crisis_statements_are_flagged_with_their_category(text: str, label: str) -> None:
    assert screen_text(text) == label


@pytest.mark.parametrize(
    "text",
    [
        "I would never hurt myself, I just need to vent about work.",
        "I'm not suicidal, just exhausted.",
        "This deadline is killing me.",
        "I'm dying of embarrassment lol",
        "kill me lol, the meeting ran two hours over",
        "Can you recommend a good book about habits?",
        "I'm craving pizza tonight",
    ],
)
def test_negations_idioms_and_ordinary_text_are_not_flagged(text: str) -> None:
    assert screen_text(text) == "no_crisis"


def test_the_review_sample_is_a_prefix_stable_seeded_draw() -> None:
    def draw(size: int, seed: int) -> list[int]:
        keep = BottomK(size)
        for position in range(5_000):
            keep.offer(sample_key(seed, position), position, position)
        return keep.smallest()

    small, large = draw(20, 0), draw(60, 0)
    assert len(set(small)) == 20 and large[:20] == small  # a bigger sample keeps the smaller one
    assert draw(20, 0) == small and draw(20, 1) != small
    # Positions spread over the whole log, not the front of it.
    assert max(large) > 3_000 and min(large) < 2_000
