"""Untrusted names become text, and links only ever point at https://huggingface.co/<id>."""

from __future__ import annotations

import pytest

from leaderboard.links import csv_safe, html_text, hub_url, is_hub_id, markdown_text, model_markdown, plain_text

HOSTILE = [
    '<img src=x onerror="alert(1)">',
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "![x](https://evil.example/x.png)",
    "**bold** _it_ `code` $$x$$",
    "https://evil.example/phish",
    "a|b\nc\r\x1b[31m",
    "&lt;script&gt;",
]


@pytest.mark.parametrize(
    "model",
    ["meta-llama/Llama-3.1-8B-Instruct", "org/name_with.dots-1", "a/b", "Org123/x.y_z"],
)
def test_valid_hub_ids_link_to_the_hub(model: str) -> None:
    assert is_hub_id(model)
    assert hub_url(model) == f"https://huggingface.co/{model}"
    assert model_markdown(model).endswith(f"](https://huggingface.co/{model})")


@pytest.mark.parametrize(
    "model",
    [
        "no-slash",
        "a/b/c",
        "/abs",
        "org/-lead",
        "org/trail.",
        "org/dou--ble",
        "org/dou..ble",
        "org/spa ce",
        "javascript:alert(1)//x",
        "org/x?y=1",
        "org/" + "a" * 97,
        *HOSTILE,
    ],
)
def test_anything_else_gets_no_link(model: str) -> None:
    assert not is_hub_id(model)
    assert hub_url(model) is None
    assert "](" not in model_markdown(model)


def test_api_models_and_baselines_have_no_hub_page() -> None:
    assert hub_url("org/name", "api") is None
    assert hub_url("org/name", "baseline") is None
    assert hub_url("org/name", "open-weight") is not None


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_text_has_no_markup_left(text: str) -> None:
    escaped = markdown_text(text)
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped
    assert "\n" not in escaped and "\x1b" not in escaped
    # Every Markdown control character is escaped (preceded by a backslash).
    for i, ch in enumerate(escaped):
        if ch in "*_`[]()!$|:":
            assert escaped[i - 1] == "\\", (text, escaped)


def test_plain_and_html_text() -> None:
    assert plain_text("a\nb\tc\x00") == "a b c\ufffd"
    assert html_text("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert plain_text(None) == ""


@pytest.mark.parametrize(
    ("value", "out"), [("=1+1", "'=1+1"), ("+x", "'+x"), ("@a", "'@a"), ("-2", "'-2"), ("ok", "ok")]
)
def test_csv_formulas_are_neutralised(value: str, out: str) -> None:
    assert csv_safe(value) == out
    assert csv_safe(3.5) == 3.5
