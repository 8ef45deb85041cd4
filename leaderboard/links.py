"""Untrusted strings on the page: model names, licenses, failure reasons.

They are shown as text, never interpreted. The one place a name becomes markup is the model
cell, a Markdown link; its text is escaped for Markdown and HTML alike, and its target is
built only from a validated Hub repository id, so a hostile name can neither inject markup
nor point the link anywhere but https://huggingface.co/.
"""

from __future__ import annotations

import html
import re
from typing import Final

HUB_URL: Final = "https://huggingface.co/"

# The Hub's repository id rules: "owner/name", letters, digits, "-", "_", ".", no leading or
# trailing separator, no "--" or "..", at most 96 characters per part.
_PART: Final = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_ID: Final = re.compile(rf"{_PART}/{_PART}")
# "$" too: a Markdown cell may render $$...$$ as LaTeX.
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def is_hub_id(model: str) -> bool:
    return bool(_HUB_ID.fullmatch(model)) and "--" not in model and ".." not in model


def hub_url(model: str, model_type: str | None = None) -> str | None:
    """The model's Hub page, or None when it has none (API models, baselines, bad ids)."""
    if model_type in ("api", "baseline", "demo") or not is_hub_id(model):
        return None
    return HUB_URL + model


def plain_text(text: object) -> str:
    """One line of text with control characters made visible, for cells and terminals."""
    value = "" if text is None else str(text)
    value = value.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    return _CONTROL.sub("\ufffd", value)


def markdown_text(text: object) -> str:
    """Text that Markdown renders literally: no markup, no HTML, no link."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", plain_text(text))
    # Entities survive Markdown and the HTML sanitiser alike and display as the character.
    return escaped.replace("&", "&amp;").replace("\\<", "&lt;").replace("\\>", "&gt;").replace('"', "&quot;")


def model_markdown(model: str, model_type: str | None = None) -> str:
    """The model cell: a link to its Hub page when it has one, escaped text otherwise."""
    url = hub_url(model, model_type)
    if url is None:
        return markdown_text(model)
    # A valid id has only letters, digits, "/", "-", "." and "_"; inside link text only "_"
    # can still mean something (emphasis), so the label stays readable for API users.
    return f"[{model.replace('_', chr(92) + '_')}]({url})"


def html_text(text: object) -> str:
    """For the rare place that takes HTML (plot hover labels): entities, no tags."""
    return html.escape(plain_text(text), quote=True)


def csv_safe(text: object) -> object:
    """Neutralise spreadsheet formulas in untrusted cells of an exported CSV."""
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
