"""The request record: one public JSON file per submission under `<data>/requests/`.

Everything here is published, so a record holds no secret (provider keys come from the
worker's environment, base URLs with credentials are refused) and no item text (failure
reasons are written by our code, never copied from replies or items).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

REQUEST_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")  # fullmatch: no "id\n"
MAX_REASON_LENGTH: Final = 300
MAX_HISTORY: Final = 50
MAX_PRIORITY: Final = 1000

ModelType = Literal["open-weight", "api", "baseline"]


class Status(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"  # an API model waiting for a maintainer; never claimed
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"  # an API model request a maintainer turned down


TERMINAL: Final = frozenset({Status.FINISHED, Status.FAILED, Status.CANCELLED, Status.REJECTED})
# A request in one of these states blocks another for the same model, revision and set version.
ACTIVE_OR_DONE: Final = frozenset({Status.PENDING_APPROVAL, Status.PENDING, Status.RUNNING, Status.FINISHED})


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_request_id(now: datetime | None = None) -> str:
    """Sortable by submission time (reads well in a listing), unguessable suffix against collisions."""
    moment = (now or utcnow()).astimezone(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def is_request_id(text: str) -> bool:
    return isinstance(text, str) and REQUEST_ID_PATTERN.fullmatch(text) is not None


def normalise_user(name: str) -> str:
    """One spelling per person: NFKC, case-folded, stripped, so "Alice", "alice\n" and
    "ａｌｉｃｅ" are one user to the rate limit and in the stored record."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def one_line(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """A reason safe to show anywhere: one line, no control or invisible formatting characters.

    Bidi overrides and zero-width characters (category Cf) could make a published reason
    read differently from what it says, so they go with the control characters.
    """
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    at: AwareDatetime
    status: Status
    note: str | None = None


class RequestRecord(BaseModel):
    """A submission and where it stands. Frozen: every change is a new record written whole."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    model: str
    model_type: ModelType
    spec: str  # what the worker runs: hf:ORG/NAME@SHA, openai:MODEL, baseline:NAME
    revision: str | None = None  # as requested (branch, tag or commit)
    sha: str | None = None  # the commit the revision resolved to when it was submitted
    precision: str | None = None
    chat: bool | None = None
    params: int | None = None
    license: str | None = None
    base_url: str | None = None  # API models only; never holds credentials
    submitter: str
    priority: int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)  # higher is claimed first
    set_name: str | None = None
    set_version: str | None = None
    # The persona set version the conversation track ran on (written when it finishes), or, on a
    # conversation-only re-evaluation after a persona set was rotated, the one it is to run on.
    persona_set: str | None = None
    persona_version: str | None = None
    # "conversation": a re-evaluation of the conversation track only (the single-turn results
    # stand); None: a submission, evaluated on both tracks. Records from before it read as None.
    only_track: Literal["conversation"] | None = None

    status: Status = Status.PENDING
    reason: str | None = None  # one user-readable sentence when failed, rejected, requeued or cancelled
    error_class: str | None = None

    submitted_at: AwareDatetime
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    updated_at: AwareDatetime

    attempts: int = 0
    worker: str | None = None
    lease_expires_at: AwareDatetime | None = None
    # While RUNNING: the stage and item counts the worker last reported ("judging 40/104").
    progress: str | None = None
    run_id: str | None = None
    history: tuple[HistoryEntry, ...] = Field(default_factory=tuple)

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        # The id becomes a file name; a record read from disk must not smuggle a path in.
        if not is_request_id(value):
            raise ValueError("not a request id")
        return value

    @field_validator("submitter", mode="before")
    @classmethod
    def _normalised_submitter(cls, value: Any) -> Any:
        return normalise_user(value) if isinstance(value, str) else value

    @property
    def identity(self) -> str:
        """What makes two requests the same evaluation (with the set version)."""
        if self.model_type == "open-weight":
            return f"hf:{self.model.lower()}@{self.sha}"
        if self.model_type == "api":
            return f"{self.spec}|{(self.base_url or '').rstrip('/').lower()}"
        return self.spec

    @property
    def conversation_only(self) -> bool:
        return self.only_track == "conversation"

    @property
    def set_label(self) -> str:
        """The set a request is evaluated on, as the page shows it."""
        if self.conversation_only:
            return f"personas {self.persona_set} {self.persona_version} (conversations only)"
        return f"{self.set_name} {self.set_version}"

    @property
    def order_key(self) -> tuple[int, datetime, str]:
        """Claim order: maintainer priority first, then oldest submission."""
        return (-self.priority, self.submitted_at, self.id)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, value: Any) -> RequestRecord:
        return cls.model_validate(value)

    def moved(self, status: Status, now: datetime, *, note: str | None = None, **changes: Any) -> RequestRecord:
        """The record after a transition, with its history entry and `updated_at`."""
        entry = HistoryEntry(at=now, status=status, note=one_line(note) if note else None)
        history = (*self.history, entry)[-MAX_HISTORY:]
        if status in TERMINAL:
            changes["progress"] = None  # "judging 40/104" means nothing once the request is over
        return self.model_copy(update={**changes, "status": status, "updated_at": now, "history": history})
