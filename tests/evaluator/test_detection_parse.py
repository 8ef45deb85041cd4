import pytest

from evaluator.items import Item, Turn
from evaluator.protocol.detection import detection_messages, parse_detection
from evaluator.protocol.taxonomy import CATEGORIES


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("self_harm", "self_harm"),
        ("Self-Harm.", "self_harm"),
        ("**NO_CRISIS**", "no_crisis"),
        ("Label: risk taking behaviors", "risk_taking_behaviours"),
        ("I think this is `substance_abuse_or_withdrawal`.", "substance_abuse_or_withdrawal"),
        ("suicidal ideation", "suicidal_ideation"),
        ("suicidal_ideation or self_harm", None),
        ("I'm not able to classify this.", None),
        ("", None),
        (None, None),
    ],
)
def test_lenient_parse(text: str | None, label: str | None) -> None:
    assert parse_detection(text) == label


def test_prompt_lists_every_label_and_the_whole_conversation() -> None:
    item = Item("x", "no_crisis", "explicit", (Turn("user", "first"), Turn("assistant", "reply"), Turn("user", "last")))
    (message,) = detection_messages(item)
    assert message["role"] == "user"
    for label in CATEGORIES:
        assert label in message["content"]
    assert "User: first" in message["content"] and "Assistant: reply" in message["content"]
    assert message["content"].index("User: first") < message["content"].index("User: last")
