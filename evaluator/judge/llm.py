"""The checklist judge on any backend (PROTOCOL section 5): an openai:, hf: or vllm: model.

The whole batch goes to the backend in one call, because concurrency, rate limits and
retries on transport errors belong to the backend layer. This module only retries what the
backend cannot know about: a reply that arrived but is not a valid verdict. Those retries
are batched per round, and an item that still fails is unscored with the parse error as its
reason, never given a default score.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Final

from evaluator.backends.base import Backend, GenerationParams, Reply
from evaluator.judge.prompts import (
    VERDICT_JSON_SCHEMA,
    build_judge_messages,
    judge_prompt_hash,
    new_nonce,
    retry_message,
)
from evaluator.judge.verdict import (
    Judgement,
    JudgeModelChanged,
    JudgeTask,
    OnJudgement,
    Verdict,
    VerdictError,
    parse_verdict,
)

JUDGE_PARAMS: Final = GenerationParams(temperature=0.0, max_new_tokens=2048, json_schema=VERDICT_JSON_SCHEMA)

Message = dict[str, str]


class _Batch:
    """Per-call state, shared by the backend's reply callbacks (possibly from its threads)."""

    def __init__(self, tasks: Sequence[JudgeTask], on_result: OnJudgement | None) -> None:
        self.tasks = tasks
        self.on_result = on_result
        self.lock = threading.Lock()
        # One code per task, for the delimiters and for the verdict to echo (PROTOCOL v3 section 5).
        self.nonces: list[str] = [new_nonce() for _ in tasks]
        self.base: list[list[Message]] = [
            build_judge_messages(t.item, t.reply, nonce) for t, nonce in zip(tasks, self.nonces, strict=True)
        ]
        self.conversations: dict[int, list[Message]] = dict(enumerate(self.base))
        self.raw: list[list[str]] = [[] for _ in tasks]
        self.results: list[Judgement | None] = [None] * len(tasks)
        self.changed: str | None = None  # why the judge's reported model id stopped the batch


class ChecklistJudge:
    def __init__(
        self,
        backend: Backend,
        *,
        judge_id: str,
        family: str | None = None,
        max_retries: int = 2,
        temperature: float = JUDGE_PARAMS.temperature,
        max_tokens: int = JUDGE_PARAMS.max_new_tokens,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if not 0.0 <= temperature <= 2.0 or not 1 <= max_tokens <= 32_768:
            raise ValueError("judge temperature must be 0-2 and max tokens 1-32768")
        self._backend = backend
        self._id = judge_id
        self._family = family
        self._max_retries = max_retries
        self._params = GenerationParams(
            temperature=float(temperature), max_new_tokens=int(max_tokens), json_schema=VERDICT_JSON_SCHEMA
        )
        self._prompt_hash = judge_prompt_hash(self._params.temperature, self._params.max_new_tokens)
        # The model id the first response reported: an API judge without a dated snapshot is
        # pinned by it, and a later response reporting another stops the run (PROTOCOL section 5).
        self._served_model: str | None = None
        self._pin_lock = threading.Lock()

    @property
    def id(self) -> str:
        return self._id

    @property
    def prompt_hash(self) -> str:
        """The rubric's hash with this judge's generation settings (prompts.judge_prompt_hash)."""
        return self._prompt_hash

    @property
    def served_model(self) -> str | None:
        """The model id this judge's responses report, once one has answered."""
        return self._served_model

    @property
    def family(self) -> str | None:
        return self._family

    @property
    def official(self) -> bool:
        return True

    @property
    def temperature(self) -> float:
        """The judge's sampling temperature (PROTOCOL section 5: pinned and recorded)."""
        return self._params.temperature

    @property
    def max_tokens(self) -> int:
        """The most tokens a verdict may take (PROTOCOL section 5: pinned and recorded)."""
        return self._params.max_new_tokens

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def endpoint(self) -> str | None:
        """The URL the judge's backend calls, where it calls one (credentials stripped)."""
        url = self._backend.info.details.get("base_url")
        return url if isinstance(url, str) else None

    def judge(self, tasks: Sequence[JudgeTask], on_result: OnJudgement | None = None) -> list[Judgement]:
        batch = _Batch(tasks, on_result)
        pending = list(range(len(tasks)))
        for attempt in range(1, self._max_retries + 2):
            if not pending:
                break
            pending = self._round(batch, pending, attempt, last=attempt == self._max_retries + 1)
            if batch.changed is not None:
                raise JudgeModelChanged(batch.changed)
        missing = [i for i, r in enumerate(batch.results) if r is None]
        if missing:  # every path above finishes each task; this guards the invariant
            raise RuntimeError(f"judge left {len(missing)} tasks without a judgement")
        return [r for r in batch.results if r is not None]

    def _round(self, batch: _Batch, pending: list[int], attempt: int, *, last: bool) -> list[int]:
        """Send one round; return the tasks whose reply did not parse and get another try."""
        again: list[int] = []
        handled: set[int] = set()

        def on_reply(position: int, reply: Reply) -> None:
            with batch.lock:
                # A backend reports each reply through the callback and again in the list it
                # returns; either may be the only one, so each position is taken once.
                if position in handled or not 0 <= position < len(pending):
                    return
                handled.add(position)
                index = pending[position]
                outcome = self._outcome(batch, index, reply, attempt, last)
                if outcome is None:
                    again.append(index)
                    return
                batch.results[index] = outcome
                if batch.on_result is not None:
                    batch.on_result(index, outcome)

        conversations = [batch.conversations[i] for i in pending]
        replies = self._backend.generate(conversations, self._params, on_reply)
        for position, reply in enumerate(replies):
            on_reply(position, reply)
        # A position the backend never answered (a bug there) still gets an outcome.
        for position in range(len(pending)):
            on_reply(position, Reply.failed("BackendError: the backend returned no reply for this conversation"))
        return sorted(again)

    def _pin(self, reported: str) -> str | None:
        """Pin the judge to the first reported model id; why not, for a different one."""
        with self._pin_lock:
            if self._served_model is None:
                self._served_model = reported
                return None
            if reported == self._served_model:
                return None
            return (
                f"judge {self._id} answered as {self._served_model!r} and now as {reported!r}; "
                "the run stops rather than mix two judge models (pin a dated snapshot)"
            )

    def _outcome(self, batch: _Batch, index: int, reply: Reply, attempt: int, last: bool) -> Judgement | None:
        """The final judgement for this reply, or None after queueing a retry conversation."""
        task = batch.tasks[index]
        raw = batch.raw[index]

        def judgement(verdict: Verdict | None, *, reason: str | None = None, error: str | None = None) -> Judgement:
            return Judgement(
                item_id=task.item.id,
                judge=self._id,
                prompt_hash=self._prompt_hash,
                reply_hash=task.reply_hash,
                verdict=verdict,
                unscored_reason=reason,
                attempts=attempt,
                raw=tuple(raw),
                error=error,
                served_model=reply.model,
            )

        if reply.error is None and reply.model is not None:
            changed = self._pin(reply.model)
            if changed is not None:
                batch.changed = batch.changed or changed
                # An error, not an outcome: never cached, never scored.
                return judgement(None, error=f"JudgeModelChanged: {changed}")
        if reply.error is not None or reply.text is None:
            return judgement(None, error=reply.error or "BackendError: the judge returned no text")
        raw.append(reply.text)
        try:
            verdict = parse_verdict(reply.text, task.item.category, nonce=batch.nonces[index])
        except VerdictError as exc:
            reason = str(exc)
            if last:
                return judgement(None, reason=reason)
            batch.conversations[index] = [
                *batch.base[index],
                {"role": "assistant", "content": reply.text},
                retry_message(reason, truncated=reply.finish_reason == "length"),
            ]
            return None
        return judgement(verdict)
