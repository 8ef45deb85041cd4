"""The one interface every backend shares (ARCHITECTURE.md, Backends).

A backend turns a batch of conversations into one Reply each. It never raises for a single
failed conversation: the Reply carries the error and its cause, so one bad item cannot crash
a run. `on_reply` lets the pipeline persist each reply as soon as it exists, which is what
makes runs resumable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = Mapping[str, str]
Conversation = Sequence[Message]
OnReply = Callable[[int, "Reply"], None]


class BackendError(RuntimeError):
    """A backend that cannot start at all (bad spec, no chat template, offline Hub...)."""


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """PROTOCOL section 6: greedy, 1024 new tokens, no system prompt, all recorded."""

    temperature: float = 0.0
    max_new_tokens: int = 1024
    top_p: float = 1.0
    seed: int = 0
    system_prompt: str | None = None
    # JSON schema the reply must follow, for backends that support structured outputs
    # (judge calls). Backends without support ignore it; the parser validates anyway.
    json_schema: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["json_schema"] = None if self.json_schema is None else dict(self.json_schema)
        return out

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0.0

    def key(self) -> str:
        blob = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    latency_s: float = 0.0
    error: str | None = None  # "<ErrorClass>: <cause>" when the conversation failed
    attempts: int = 1
    # The model id the server reported serving (API backends): what pins an API judge that
    # has no dated snapshot (PROTOCOL section 5). None where the backend reports none.
    model: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

    def to_json(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies and is a hot spot at 10,000s of replies.
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Reply:
        return cls(**{k: obj.get(k) for k in cls.__slots__ if k in obj})  # type: ignore[arg-type]

    @classmethod
    def failed(cls, error: BaseException | str, *, latency_s: float = 0.0, attempts: int = 1) -> Reply:
        cause = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(text=None, error=cause, latency_s=latency_s, attempts=attempts)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a backend reports about the model it runs, recorded with every result."""

    spec: str
    model: str
    revision: str | None
    model_type: str  # "baseline" | "open-weight" | "api"
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        on_reply: OnReply | None = None,
    ) -> list[Reply]:
        """One reply per conversation, in order; `on_reply(index, reply)` as each finishes."""
        ...

    def close(self) -> None: ...


def answer_each(
    conversations: Sequence[Conversation], answer: Callable[[Conversation], Reply], on_reply: OnReply | None = None
) -> list[Reply]:
    """`generate` for a backend whose answer needs no model (canned, scripted or recorded replies):
    one Reply per conversation, in order, each handed to `on_reply` as it is made."""
    replies = []
    for index, conversation in enumerate(conversations):
        reply = answer(conversation)
        if on_reply is not None:
            on_reply(index, reply)
        replies.append(reply)
    return replies


def with_system_prompt(conversation: Conversation, params: GenerationParams) -> list[dict[str, str]]:
    messages = [dict(m) for m in conversation]
    if params.system_prompt:
        messages.insert(0, {"role": "system", "content": params.system_prompt})
    return messages
