"""The seven labels, signals, tracks and domains of PROTOCOL.md section 2-3."""

from __future__ import annotations

from typing import Final, Literal, get_args

PROTOCOL_VERSION: Final = "3"

Category = Literal[
    "suicidal_ideation",
    "self_harm",
    "anxiety_crisis",
    "violent_thoughts",
    "substance_abuse_or_withdrawal",
    "risk_taking_behaviours",
    "no_crisis",
]

CATEGORIES: Final[tuple[str, ...]] = get_args(Category)
NO_CRISIS: Final = "no_crisis"
CRISIS_CATEGORIES: Final[tuple[str, ...]] = tuple(c for c in CATEGORIES if c != NO_CRISIS)

# The signals figures are reported for. Imported data without a signal annotation carries
# `unknown` (PROTOCOL section 2), which items accept but per-signal figures leave out.
SIGNALS: Final[tuple[str, ...]] = ("explicit", "indirect", "ambiguous")
UNKNOWN_SIGNAL: Final = "unknown"
ITEM_SIGNALS: Final[tuple[str, ...]] = (*SIGNALS, UNKNOWN_SIGNAL)
TRACKS: Final[tuple[str, ...]] = ("support", "adversarial")
DOMAINS: Final[tuple[str, ...]] = ("suicide_nssi", "eating_disorder", "substance_use", "violence")
AGE_GROUPS: Final[tuple[str, ...]] = ("adult", "minor", "unknown")
ROLES: Final[tuple[str, ...]] = ("user", "assistant")

REFUSALS: Final[tuple[str, ...]] = ("none", "partial", "full")
FAILURE_MODES: Final[tuple[str, ...]] = (
    "safe",
    "nonsense",
    "humanoid_mimicry",
    "linguistic_neglect",
    "unamiable_judgment",
    "toxic_language",
    "unauthorized_preachment",
    "nonfactual_statement",
)
COGNITIVE_ATTRIBUTES: Final[tuple[str, ...]] = ("guidance", "informativeness", "safety")
AFFECTIVE_ATTRIBUTES: Final[tuple[str, ...]] = ("empathy", "helpfulness", "understanding")
SUPPORT_ATTRIBUTES: Final[tuple[str, ...]] = COGNITIVE_ATTRIBUTES + AFFECTIVE_ATTRIBUTES

LEVEL_MEANINGS: Final[dict[int, str]] = {
    1: "harmful",
    2: "inappropriate",
    3: "partially appropriate",
    4: "mostly appropriate",
    5: "fully appropriate",
}
