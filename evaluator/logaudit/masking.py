"""Personal data masked out of log text before anything is stored (PROTOCOL section 10).

Five kinds are masked, each by a placeholder that says what was there: e-mail addresses,
phone numbers, street addresses (and UK-style postcodes), URLs that carry a query string
(query strings hold session tokens, e-mail addresses and names; a bare link to a help
service is kept, since it is what a reply offers) and @handles.

The patterns lean towards masking too much: a masked year or a masked road name costs the
audit nothing, a phone number left in a stored file is a leak. Published numbers of crisis
services are not personal data and are kept, so a reply that gives one still counts as
giving a resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

KINDS: Final[tuple[str, ...]] = ("email", "phone", "address", "url", "handle")
PLACEHOLDER: Final[Mapping[str, str]] = {kind: f"[{kind}]" for kind in KINDS}

# Words that end a run of street-name words: "5 miles down the road" is no address.
_NOT_NAME: Final = (
    "the|a|an|on|in|to|my|our|your|his|her|their|its|of|off|down|up|at|for|and|or|by|from|this|that|"
    "with|into|onto|over|all|every|each|per|more|less|than|times|days|weeks|months|years|hours|minutes|"
    "miles|km|kids|people|ways"
)
_SUFFIX: Final = (
    "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|way|close|"
    "crescent|square|sq|parkway|pkwy|highway|hwy|circle|cir|gardens|grove|mews|row|walk"
)
_URL: Final = r"(?P<url>\b(?:https?://|www\.)[^\s<>\"'()]*\?[^\s<>\"'()]*)"
_AT: Final = (
    r"(?P<email>[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})"
    r"|(?P<handle>(?<![\w@.])@[a-z0-9_](?:[a-z0-9_.]{0,28}[a-z0-9_])?)"
)
_DIGITS: Final = (
    rf"(?P<address>\b\d{{1,5}}[a-z]?(?:\s+(?!(?:{_NOT_NAME})\b)[a-z0-9][a-z0-9'.-]*){{1,4}}\s+(?:{_SUFFIX})\b\.?"
    r"(?:,?\s*(?:apt|apartment|unit|suite|flat|no\.?|#)\s*[a-z0-9-]+)?"
    r"|\b[a-z]{1,2}\d[a-z\d]?\s\d[abd-hjlnp-uw-z]{2}\b)"
    r"|(?P<phone>(?<![\w+])\+?\(?\d[\d \t().-]{5,20}\d(?!\w))"
)
# Applied in this order, each only to text that has what its kinds need: a URL may hold an
# e-mail address and digits, an e-mail address holds an @, and a placeholder holds neither.
_HAS_DIGIT: Final = re.compile(r"\d").search
_AT_OR_DIGIT: Final = re.compile(r"[@\d]").search
_PASSES: Final[tuple[tuple[Callable[[str], bool], re.Pattern[str]], ...]] = (
    (lambda t: "?" in t and ("://" in t or "www." in t or "WWW." in t), re.compile(_URL, re.IGNORECASE)),
    (lambda t: "@" in t, re.compile(_AT, re.IGNORECASE)),
    (lambda t: _HAS_DIGIT(t) is not None, re.compile(_DIGITS, re.IGNORECASE)),
)
_DATE: Final = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_NON_DIGIT: Final = re.compile(r"\D")
# Published numbers of crisis and support services (digits only): kept.
SERVICE_NUMBERS: Final = frozenset(
    {
        "18002738255",  # US National Suicide Prevention Lifeline (before 988)
        "8002738255",
        "18334564566",  # Talk Suicide Canada
        "08001111",  # Childline UK
        "08457909090",  # Samaritans UK (former number)
        "0800585858",  # CALM UK
    }
)


def _phone(text: str) -> bool:
    digits = _NON_DIGIT.sub("", text)
    if not 7 <= len(digits) <= 15 or digits in SERVICE_NUMBERS:
        return False
    return _DATE.fullmatch(text.strip("().")) is None


def mask(text: str, counts: dict[str, int] | None = None) -> str:
    """`text` with every personal datum replaced by its placeholder; `counts` (if given) is
    incremented per kind masked."""
    if _AT_OR_DIGIT(text) is None and "://" not in text and "www." not in text and "WWW." not in text:
        return text  # most turns: nothing that any kind needs
    passes = [pattern for needs, pattern in _PASSES if needs(text)]
    if not passes:
        return text

    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup or ""
        if kind == "phone" and not _phone(match.group()):
            return match.group()
        if counts is not None:
            counts[kind] = counts.get(kind, 0) + 1
        return PLACEHOLDER[kind]

    for pattern in passes:
        text = pattern.sub(replace, text)
    return text
