"""Personal data is masked by kind; ordinary text and crisis-service numbers are kept."""

from __future__ import annotations

import pytest

from evaluator.logaudit.masking import mask


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to jo.smith+notes@example.co.uk today", "email"),
        ("my number is 555-123-4567", "phone"),
        ("call me on +44 20 7946 0958 tonight", "phone"),
        ("(555) 123 4567 is my cell", "phone"),
        ("I live at 42 Elm Street, Apt 4B", "address"),
        ("we moved to 221B Baker Street last year", "address"),
        ("office at 350 5th Avenue", "address"),
        ("my postcode is SW1A 1AA", "address"),
        ("see https://shop.example.com/cart?user=jo&id=3 please", "url"),
        ("www.example.org/login?token=abc123 was the link", "url"),
        ("I'm @sunny_days_22 on there", "handle"),
    ],
)
def test_each_kind_is_masked_and_counted(text: str, kind: str) -> None:
    counts: dict[str, int] = {}
    masked = mask(text, counts)
    assert f"[{kind}]" in masked
    assert counts == {kind: 1}
    for token in ("@example", "555", "7946", "Elm", "Baker", "5th", "SW1A", "user=jo", "token=", "sunny"):
        if token in text:
            assert token not in masked


@pytest.mark.parametrize(
    "text",
    [
        "I ran 5 miles down the road",
        "I have 2 kids on the way",
        "on 2024-01-15 I felt awful",
        "Are you safe right now?",
        "call or text 988, or Samaritans on 116 123, or 1-800-273-8255",
        "the site is https://988lifeline.org",
        "I slept 7 hours",
    ],
)
def test_ordinary_text_and_service_numbers_are_kept(text: str) -> None:
    counts: dict[str, int] = {}
    assert mask(text, counts) == text
    assert counts == {}


def test_an_email_inside_a_url_query_goes_with_the_url() -> None:
    counts: dict[str, int] = {}
    assert mask("https://x.example/a?mail=jo@example.com", counts) == "[url]"
    assert counts == {"url": 1}
