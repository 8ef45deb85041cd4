"""Bounds on every free-text input the public endpoints accept (issue 10).

Checked before any work is done with the input, by the page's handlers and the REST API
alike, so one request cannot buy unbounded CPU: the cost of a search is at most
MAX_SEARCH_ALTERNATIVES x MAX_SEARCH_WORDS substring tests per model name.
"""

from __future__ import annotations

from typing import Final

MAX_SEARCH_CHARS: Final = 256  # a search box entry; model ids are at most 96 characters
MAX_SEARCH_ALTERNATIVES: Final = 16  # ';' or ',' separated alternatives
MAX_SEARCH_WORDS: Final = 32  # words over all alternatives
MAX_NAME_CHARS: Final = 200  # a board key, a model name, a column or sort key
MAX_CHOICES: Final = 64  # entries of a multi-select (model types, licenses, columns)
MAX_REQUEST_BYTES: Final = 1 << 20  # any HTTP request body the Space accepts
MAX_UPLOAD_BYTES: Final = 1 << 20  # the page has no upload component; Gradio's own limit

__all__ = [
    "MAX_CHOICES",
    "MAX_NAME_CHARS",
    "MAX_REQUEST_BYTES",
    "MAX_SEARCH_ALTERNATIVES",
    "MAX_SEARCH_CHARS",
    "MAX_SEARCH_WORDS",
    "MAX_UPLOAD_BYTES",
]
