"""Backend spec strings (ARCHITECTURE.md): `kind:target[@revision]`."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Final

KINDS: Final = ("baseline", "hf", "vllm", "openai", "demo", "replay")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


class SpecError(ValueError):
    """A spec string that names no backend; the message says what a valid one looks like."""


@dataclass(frozen=True, slots=True)
class BackendSpec:
    kind: str
    target: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" + (f"@{self.revision}" if self.revision else "")

    @property
    def is_local_path(self) -> bool:
        return self.kind == "hf" and self.target.startswith(("/", "./", "../"))


def parse_spec(text: str) -> BackendSpec:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in KINDS or not rest:
        near = difflib.get_close_matches(kind.lower(), KINDS, n=1, cutoff=0.6) if sep and rest else []
        hint = f"did you mean {near[0]}:{rest[:80]}? " if near else ""
        raise SpecError(
            f"unknown model spec {text[:80]!r}: {hint}expected baseline:refusal, baseline:template, demo:NAME, "
            "hf:ORG/NAME[@REV], hf:/local/dir, vllm:ORG/NAME[@REV], openai:MODEL or replay:FILE.jsonl"
        )
    if kind in ("openai", "baseline", "demo"):
        # API model names are the provider's business (they may contain '/', '@' or ':').
        return BackendSpec(kind, rest)
    if kind == "replay":
        # A path, which may contain '@' or ':'; replay.py bounds and reads the file.
        if len(rest) > 4096 or "\x00" in rest:
            raise SpecError("replay: spec needs a path to a JSONL file")
        return BackendSpec(kind, rest)
    if rest.startswith(("/", "./", "../")) and kind == "hf":
        return BackendSpec(kind, rest)
    target, _, revision = rest.partition("@")
    if not _HUB_ID.fullmatch(target):
        raise SpecError(f"{kind}: spec needs a Hub id ORG/NAME, got {target[:80]!r}")
    if revision and not _REVISION.fullmatch(revision):
        raise SpecError(f"{kind}: revision {revision[:80]!r} is not a branch, tag or commit")
    return BackendSpec(kind, target, revision or None)
