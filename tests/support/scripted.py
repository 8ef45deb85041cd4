"""A scripted in-process backend: replies come from a function of the conversation.

Used where real model behaviour is irrelevant (pipeline logic, judges' parsing, benchmarks).
HTTP, transformers and vLLM paths have their own real or engine-level tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from evaluator.backends.base import Conversation, GenerationParams, ModelInfo, OnReply, Reply

Responder = Callable[[Conversation], "str | Reply"]


class ScriptedBackend:
    def __init__(
        self,
        responder: Responder,
        *,
        name: str = "scripted:test",
        model_type: str = "open-weight",
        latency_s: float = 0.0,
        record_calls: bool = True,
    ) -> None:
        self._responder = responder
        self._latency_s = latency_s
        # Tests read `calls`; a benchmark turns it off, so it times the pipeline, not this copy.
        self._record_calls = record_calls
        self._info = ModelInfo(spec=name, model=name, revision="test", model_type=model_type)
        self.calls: list[list[dict[str, str]]] = []

    @property
    def info(self) -> ModelInfo:
        return self._info

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        replies: list[Reply] = []
        for index, conversation in enumerate(conversations):
            if self._record_calls:
                self.calls.append([dict(m) for m in conversation])
            if self._latency_s:
                time.sleep(self._latency_s)
            out = self._responder(conversation)
            reply = out if isinstance(out, Reply) else Reply(text=out, prompt_tokens=1, completion_tokens=1)
            if on_reply:
                on_reply(index, reply)
            replies.append(reply)
        return replies

    def close(self) -> None:
        pass
