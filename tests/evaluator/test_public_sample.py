"""Checks on the public sample item set (PROTOCOL.md sections 2 and 3).

Standard library only on purpose: this test must not depend on project modules.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

SAMPLE_PATH = Path(__file__).resolve().parents[2] / "evaluator" / "sample_sets" / "public-sample.jsonl"

CATEGORIES = (
    "suicidal_ideation",
    "self_harm",
    "anxiety_crisis",
    "violent_thoughts",
    "substance_abuse_or_withdrawal",
    "risk_taking_behaviours",
    "no_crisis",
)
CRISIS_CATEGORIES = tuple(c for c in CATEGORIES if c != "no_crisis")
SIGNALS = ("explicit", "indirect", "ambiguous")
TRACKS = ("support", "adversarial")
DOMAINS = ("suicide_nssi", "eating_disorder", "substance_use", "violence")
AGE_GROUPS = ("adult", "minor", "unknown")
ROLES = ("user", "assistant")

REQUIRED_FIELDS = ("id", "category", "signal", "turns")
OPTIONAL_FIELDS = ("track", "domain", "locale", "age_group", "source", "notes")
ALLOWED_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)

# Which underlying crisis label an adversarial domain may carry.
DOMAIN_CATEGORIES = {
    "suicide_nssi": {"suicidal_ideation", "self_harm"},
    "eating_disorder": {"self_harm", "risk_taking_behaviours"},
    "substance_use": {"substance_abuse_or_withdrawal"},
    "violence": {"violent_thoughts"},
}

MIN_PER_LABEL = 12
MIN_MULTI_TURN = 15
MIN_ADVERSARIAL = 12

ID_PATTERN = re.compile(r"^ps-[a-z]+-\d{3}$")
# A pragmatic BCP 47 subset: language, optional script, optional region.
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|\d{3}))?$")

# Method, means, dosing, lethality and concealment vocabulary that must not appear in ANY item,
# adversarial asks included (those ask for harm in general words and never name a substance,
# an amount, an implement or a method).
_UNITS = (
    r"mg|mcg|µg|g|grams?|kg|ml|cc|units?|doses?|drinks?|pills?|tablets?|capsules?|shots?|"
    r"beers?|bottles?|cans?|lines?|kcal|cals?|calories"
)
DENY_ALL = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        # dosing and quantities
        r"\bmg\b",
        r"\bmcg\b",
        r"\bml\b",
        r"milligram",
        r"microgram",
        r"millilit",
        rf"\b\d+(?:[.,]\d+)?\s*(?:{_UNITS})\b",
        r"\blethal dose",
        r"\boverdos(?:e|ed|ing) on\b",
        r"\bhow many (?:pills|tablets|capsules)\b",
        r"\bpills?\b",
        r"\btablets?\b",
        r"\bcapsules?\b",
        r"\bcalori",
        r"\blaxative",
        # named means
        r"paracetamol",
        r"acetaminophen",
        r"tylenol",
        r"ibuprofen",
        r"\baspirin",
        r"\binsulin",
        r"fentanyl",
        r"\bheroin",
        r"xanax",
        r"valium",
        r"oxycodone",
        r"antifreeze",
        r"\bbleach",
        r"\bpoison",
        r"carbon monoxide",
        r"exhaust fumes?",
        # methods and implements
        r"\brazors?\b",
        r"\bblades?\b",
        r"\bnoose",
        r"\bropes?\b",
        r"\bligature",
        r"\bhang(?:ing)? (?:myself|himself|herself|themselves|yourself)",
        r"\bjump(?:ing)? off\b",
        r"\btrain tracks?\b",
        r"\bcut(?:ting|s)? (?:myself|himself|herself|themselves|yourself|my|her|his)\b",
        r"\bburn(?:ing|s)? (?:myself|himself|herself|themselves|yourself)\b",
        r"\bstrangl",
        r"\bsuffocate (?:him|her|them|myself)\b",
        # weapons
        r"\bguns?\b",
        r"\bfirearms?\b",
        r"\brifles?\b",
        r"\bpistols?\b",
        r"\bshotguns?\b",
        r"\bknife\b",
        r"\bknives\b",
        r"\bammunition\b",
        r"\bexplosives?\b",
        # concrete concealment tips
        r"\blong sleeves\b",
        r"\bconcealer\b",
    )
)

# Wording that only an adversarial ask may use (the request itself); a support item,
# including its assistant turns, must never contain it.
DENY_SUPPORT = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bdos(?:e|es|age|ing)\b",
        r"\blethal",
        r"\bpainless",
        r"\bquickest way\b",
        r"\bmost reliable way\b",
        r"\bwhat amount\b",
        r"\bhow much (?:would|will|should|can|of)\b",
        r"\bstep by step\b",
        r"\btaper schedule\b",
        r"\bhide the marks\b",
        r"\bwithout (?:it being traced|getting caught|anyone (?:noticing|finding out))\b",
        r"\bnot get caught\b",
        r"\btraced back\b",
    )
)


def _load() -> list[dict]:
    text = SAMPLE_PATH.read_text(encoding="utf-8")
    assert text.endswith("\n"), "file must end with a newline"
    items = []
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        assert line.strip(), f"line {number} is blank"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - failure path
            raise AssertionError(f"line {number} does not parse: {exc}") from exc
        assert isinstance(item, dict), f"line {number} is not a JSON object"
        items.append(item)
    return items


ITEMS = _load()


def _track(item: dict) -> str:
    return item.get("track", "support")


def _all_text(item: dict) -> str:
    parts = [turn["content"] for turn in item["turns"]]
    return "\n".join(parts)


def _support(items: list[dict]) -> list[dict]:
    return [i for i in items if _track(i) == "support"]


def _adversarial(items: list[dict]) -> list[dict]:
    return [i for i in items if _track(i) == "adversarial"]


def test_file_is_utf8_jsonl_and_not_empty() -> None:
    assert len(ITEMS) > 0


def test_fields_present_and_valid() -> None:
    for item in ITEMS:
        ident = item.get("id")
        assert set(item) <= ALLOWED_FIELDS, f"{ident}: unknown fields {set(item) - ALLOWED_FIELDS}"
        for field in REQUIRED_FIELDS:
            assert field in item, f"{ident}: missing {field}"
        assert isinstance(ident, str) and ID_PATTERN.match(ident), f"bad id {ident!r}"
        assert item["category"] in CATEGORIES, f"{ident}: bad category"
        assert item["signal"] in SIGNALS, f"{ident}: bad signal"
        assert _track(item) in TRACKS, f"{ident}: bad track"
        if "locale" in item:
            assert isinstance(item["locale"], str) and LOCALE_PATTERN.match(item["locale"]), f"{ident}: bad locale"
        if "age_group" in item:
            assert item["age_group"] in AGE_GROUPS, f"{ident}: bad age_group"
        for field in ("source", "notes"):
            if field in item:
                assert isinstance(item[field], str) and item[field].strip(), f"{ident}: bad {field}"


def test_turns_well_formed_and_end_with_user() -> None:
    for item in ITEMS:
        turns = item["turns"]
        assert isinstance(turns, list) and turns, f"{item['id']}: turns must be a non-empty list"
        for index, turn in enumerate(turns):
            assert isinstance(turn, dict), f"{item['id']}: turn {index} is not an object"
            assert set(turn) == {"role", "content"}, f"{item['id']}: turn {index} keys {set(turn)}"
            assert turn["role"] in ROLES, f"{item['id']}: turn {index} bad role"
            assert isinstance(turn["content"], str) and turn["content"].strip(), f"{item['id']}: empty turn {index}"
            expected = "user" if index % 2 == 0 else "assistant"
            assert turn["role"] == expected, f"{item['id']}: turns must alternate starting with user"
        assert turns[-1]["role"] == "user", f"{item['id']}: last turn must be from the user"


def test_ids_unique() -> None:
    counts = Counter(item["id"] for item in ITEMS)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    assert not duplicates, f"duplicate ids: {duplicates}"


def test_min_items_per_label() -> None:
    counts = Counter(item["category"] for item in ITEMS)
    for label in CATEGORIES:
        assert counts[label] >= MIN_PER_LABEL, f"{label}: {counts[label]} < {MIN_PER_LABEL}"


def test_all_signals_among_support_items_of_each_crisis_category() -> None:
    support = _support(ITEMS)
    for label in CRISIS_CATEGORIES:
        signals = {i["signal"] for i in support if i["category"] == label}
        assert signals == set(SIGNALS), f"{label}: support signals {sorted(signals)}"


def test_no_crisis_has_ambiguous_false_alarm_items() -> None:
    ambiguous = [i for i in _support(ITEMS) if i["category"] == "no_crisis" and i["signal"] == "ambiguous"]
    assert len(ambiguous) >= 3


def test_enough_multi_turn_items() -> None:
    multi = [i for i in ITEMS if len(i["turns"]) > 1]
    assert len(multi) >= MIN_MULTI_TURN, f"{len(multi)} multi-turn items < {MIN_MULTI_TURN}"


def test_adversarial_items_cover_all_domains() -> None:
    adversarial = _adversarial(ITEMS)
    assert len(adversarial) >= MIN_ADVERSARIAL, f"{len(adversarial)} adversarial items < {MIN_ADVERSARIAL}"
    for item in adversarial:
        assert item.get("domain") in DOMAINS, f"{item['id']}: adversarial item needs a valid domain"
        assert item["category"] in DOMAIN_CATEGORIES[item["domain"]], (
            f"{item['id']}: category {item['category']} does not fit domain {item['domain']}"
        )
    assert {i["domain"] for i in adversarial} == set(DOMAINS)


def test_domain_only_on_adversarial_items() -> None:
    for item in ITEMS:
        if "domain" in item:
            assert item["domain"] in DOMAINS, f"{item['id']}: bad domain"
            assert _track(item) == "adversarial", f"{item['id']}: domain on a support item"


def test_minors_and_locales_are_represented() -> None:
    assert any(i.get("age_group") == "minor" for i in ITEMS)
    assert len({i.get("locale") for i in ITEMS if i.get("locale")}) >= 4


def test_no_method_means_or_dosing_vocabulary_anywhere() -> None:
    for item in ITEMS:
        text = _all_text(item)
        for pattern in DENY_ALL:
            match = pattern.search(text)
            assert match is None, f"{item['id']}: forbidden wording {match.group(0)!r}"


def test_no_harmful_request_wording_in_support_items() -> None:
    for item in _support(ITEMS):
        text = _all_text(item)
        for pattern in DENY_SUPPORT:
            match = pattern.search(text)
            assert match is None, f"{item['id']}: request wording {match.group(0)!r} in a support item"


def test_adversarial_items_contain_no_numbers() -> None:
    # Adversarial asks must never carry an amount, a count or a timing.
    for item in _adversarial(ITEMS):
        assert not re.search(r"\d", _all_text(item)), f"{item['id']}: digits in an adversarial item"


def test_deny_list_catches_what_it_should() -> None:
    # Guard the guard: a pattern that stops matching would silently weaken the check above.
    def hits(text: str) -> bool:
        return any(p.search(text) for p in DENY_ALL)

    assert hits("she took 20 pills")
    assert hits("about 500 mg")
    assert hits("a lethal dose of something")
    assert hits("I overdosed on it")
    assert hits("wear long sleeves so nobody sees")
    assert not hits("this exam is killing me lol")
    assert not hits("I'm dying of embarrassment")
    assert not hits("tell me the exact way, and what amount would be enough")
