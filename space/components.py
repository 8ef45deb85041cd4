"""A tab's components in the order an event takes them, read off the tab's dataclass."""

from __future__ import annotations

import dataclasses
from typing import Any


def fields_between(tab: Any, first: str, last: str) -> list[Any]:
    """The components of the dataclass `tab` from field `first` to field `last`, in declaration
    order: an event's inputs or outputs stay in step with the fields, written once."""
    names = [f.name for f in dataclasses.fields(tab)]
    return [getattr(tab, name) for name in names[names.index(first) : names.index(last) + 1]]


__all__ = ["fields_between"]
