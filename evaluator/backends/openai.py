"""`openai:MODEL`: any OpenAI-compatible `/chat/completions` endpoint over HTTP.

Hosted APIs, `vllm serve` and llama.cpp servers all speak this dialect. Rate limits and
flaky networks are normal here, so this layer owns retries, backoff and the concurrency
bound (ARCHITECTURE.md: they live in the backend, not in the judge or metrics).

Held-out items are secret: a provider's error body may quote the prompt back, so error
causes carry only the status, a short sanitised error code and the endpoint, never a body.
The API key never leaves the request headers.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from evaluator.backends.base import (
    BackendError,
    Conversation,
    GenerationParams,
    ModelInfo,
    OnReply,
    Reply,
    with_system_prompt,
)

__all__ = ["DEFAULT_BASE_URL", "OpenAIBackend", "parse_retry_after"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RETRY_STATUSES = frozenset({408, 429})
_AUTH_STATUSES = frozenset({401, 403})
# Only identifier-like codes may reach an error cause; anything else could be prompt text.
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _public_url(url: str) -> str:
    """The URL without userinfo or query, which may hold credentials, for causes and records."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and _SAFE_CODE.fullmatch(value):
            return value
    return None


def _mentions(response: httpx.Response, word: str) -> bool:
    try:
        return word in response.text.lower()
    except (UnicodeDecodeError, ValueError):
        return False


# A refused connection is retried once, after this long (plus jitter), not with backoff.
REFUSED_RETRY_S: Final = 0.25


def _refused(exc: BaseException) -> bool:
    """Whether a connection error is the peer refusing it (nothing listening on the port)."""
    seen: BaseException | None = exc
    for _ in range(8):  # httpx wraps httpcore's error, which wraps the OS error
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(slots=True)
class _Outcome:
    """Why the last attempt failed; `retry` says whether another attempt may help."""

    cause: str
    retry: bool
    wait_s: float | None = None
    connect: bool = False
    refused: bool = False  # the host answered that nothing listens on the port


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        retry_after_cap_s: float = 60.0,
    ) -> None:
        if not model:
            raise BackendError("openai: spec needs a model name, e.g. openai:gpt-4o-mini")
        if concurrency < 1:
            raise BackendError(f"openai: concurrency must be at least 1, got {concurrency}")
        if max_retries < 0:
            raise BackendError(f"openai: max_retries must be 0 or more, got {max_retries}")
        if timeout_s <= 0:
            raise BackendError(f"openai: timeout must be positive, got {timeout_s}")
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise BackendError(f"openai: base URL must be http(s)://host[:port]/path, got {_public_url(url)!r}")
        self._model = model
        self._url = url
        self._public_url = _public_url(url)
        self._key_env = api_key_env
        self._has_key = bool(api_key_env and os.environ.get(api_key_env))  # "": send no key
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._retry_after_cap_s = retry_after_cap_s
        self._random = random.Random()
        # Bounds requests across overlapping generate() calls too, not only within one.
        self._slots = threading.BoundedSemaphore(concurrency)
        # Sticky: once a server says it lacks structured outputs, stop paying a 400 per call.
        self._use_response_format = True
        # Set when an item ran out of retries on connection errors: later items then fail on
        # their first refused connection instead of each waiting through the whole backoff.
        self._unreachable = False
        self._served: dict[str, str] = {}
        self._closed = False
        headers = {"User-Agent": "crisis-safety-leaderboard"}
        if self._has_key:
            headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self._model!r}, base_url={self._public_url!r})"

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def info(self) -> ModelInfo:
        details: dict[str, Any] = {"base_url": self._public_url, **self._served}
        if not self._use_response_format:
            details["response_format"] = "unsupported"
        return ModelInfo(
            spec=f"openai:{self._model}", model=self._model, revision=None, model_type="api", details=details
        )

    def close(self) -> None:
        self._closed = True
        self._client.close()

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        on_reply: OnReply | None = None,
    ) -> list[Reply]:
        if self._closed:
            raise BackendError("openai: backend is closed")
        if not conversations:
            return []
        stop = threading.Event()
        replies: list[Reply | None] = [None] * len(conversations)
        pool = ThreadPoolExecutor(max_workers=min(self._concurrency, len(conversations)), thread_name_prefix="openai")
        try:
            futures: dict[Future[Reply], int] = {
                pool.submit(self._complete, conversation, params, stop): index
                for index, conversation in enumerate(conversations)
            }
            # Callbacks run here, on the caller's thread, so they never overlap.
            for future in as_completed(futures):
                index = futures[future]
                reply = future.result()
                replies[index] = reply
                if on_reply:
                    on_reply(index, reply)
        except BaseException:
            # A failing callback or Ctrl-C: abandon queued items and cut backoff sleeps short.
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return [r for r in replies if r is not None]

    def _payload(self, conversation: Conversation, params: GenerationParams) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self._model,
            "messages": with_system_prompt(conversation, params),
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "seed": params.seed,
            "stream": False,
        }
        if params.json_schema is not None and self._use_response_format:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "schema": dict(params.json_schema), "strict": False},
            }
        return payload

    def _complete(self, conversation: Conversation, params: GenerationParams, stop: threading.Event) -> Reply:
        started = time.perf_counter()
        attempts = 0
        try:
            payload = self._payload(conversation, params)
            failures = 0
            while True:
                attempts += 1
                attempt_started = time.perf_counter()
                result = self._attempt(payload)
                if isinstance(result, Reply):
                    latency = time.perf_counter() - attempt_started
                    return Reply(
                        text=result.text,
                        prompt_tokens=result.prompt_tokens,
                        completion_tokens=result.completion_tokens,
                        finish_reason=result.finish_reason,
                        latency_s=latency,
                        attempts=attempts,
                        model=result.model,
                    )
                if result is None:
                    # The server rejected response_format: the same request without it does not
                    # count against the retry budget, it is a different request.
                    payload.pop("response_format", None)
                    continue
                failures += 1
                if result.connect and self._unreachable and failures == 1:
                    return self._failed(result.cause, started, attempts)
                spent = failures > (min(self._max_retries, 1) if result.refused else self._max_retries)
                if not result.retry or spent or stop.is_set():
                    if result.connect and result.retry:
                        self._unreachable = True
                    return self._failed(result.cause, started, attempts)
                delay = self._backoff(failures, result.wait_s)
                log.debug("openai: attempt %d failed (%s); retrying in %.2f s", attempts, result.cause, delay)
                if stop.wait(delay):
                    return self._failed(result.cause, started, attempts)
        except Exception as exc:  # one item must never crash the run
            # Only the class name: an unexpected exception's message could quote the request.
            return self._failed(
                f"{type(exc).__name__}: unexpected error talking to {self._public_url}", started, attempts
            )

    def _failed(self, cause: str, started: float, attempts: int) -> Reply:
        if attempts > 1:
            cause = f"{cause} after {attempts} attempts"
        # A failure's latency is all the time spent on it, backoff included.
        return Reply.failed(cause, latency_s=time.perf_counter() - started, attempts=max(attempts, 1))

    def _backoff(self, failures: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            # The server said when; a little jitter keeps the whole pool from returning at once.
            return min(retry_after_s, self._retry_after_cap_s) + self._random.uniform(0, self._backoff_base_s)
        ceiling = min(self._backoff_cap_s, self._backoff_base_s * 2 ** (failures - 1))
        return self._random.uniform(0, ceiling)

    def _attempt(self, payload: dict[str, Any]) -> Reply | _Outcome | None:
        """A Reply on success, None to resend without response_format, else why it failed."""
        try:
            with self._slots:
                response = self._client.post(f"{self._url}/chat/completions", json=payload)
        except httpx.ConnectTimeout:
            return _Outcome(f"ConnectError: cannot reach {self._public_url} (offline?)", retry=True, connect=True)
        except httpx.TimeoutException:
            return _Outcome(f"TimeoutError: no reply within {self._timeout_s:g} s", retry=True)
        except httpx.ConnectError as exc:
            if _refused(exc):
                # Nothing listens there: one quick second try (a server just starting), never
                # the whole backoff ladder, so a wrong URL fails in seconds and says which.
                cause = f"ConnectError: connection refused by {self._public_url} (is the server running?)"
                return _Outcome(cause, retry=True, connect=True, wait_s=REFUSED_RETRY_S, refused=True)
            return _Outcome(f"ConnectError: cannot reach {self._public_url} (offline?)", retry=True, connect=True)
        except httpx.TransportError as exc:
            return _Outcome(f"{type(exc).__name__}: connection to {self._public_url} failed", retry=True)
        self._unreachable = False
        status = response.status_code
        if status == 200:
            return self._parse(response)
        code = _error_code(response)
        label = f"HTTP {status}" + (f" ({code})" if code else "")
        if status in (400, 422) and "response_format" in payload and _mentions(response, "response_format"):
            log.info("openai: %s rejects response_format; sending requests without it", self._public_url)
            self._use_response_format = False
            return None
        if status in _RETRY_STATUSES or 500 <= status <= 599:
            wait = parse_retry_after(response.headers.get("retry-after"))
            ms = response.headers.get("retry-after-ms")
            if ms:
                parsed = parse_retry_after(ms)
                wait = None if parsed is None else parsed / 1000
            return _Outcome(f"HTTPStatusError: {label}", retry=True, wait_s=wait)
        if status in _AUTH_STATUSES:
            if self._has_key:
                hint = f"the key in {self._key_env} was refused"
            elif not self._key_env:  # the worker sends a key only to a host configured for it
                host = urlsplit(self._url).hostname
                hint = f"no API key is configured for {host} (a maintainer adds it to CRISIS_API_KEYS)"
            else:
                hint = f"no API key: set {self._key_env} to the key for {self._public_url}"
            return _Outcome(f"HTTPStatusError: {label} from {self._public_url}: {hint}", retry=False)
        if status == 404:
            return _Outcome(
                f"HTTPStatusError: {label}: no model {self._model!r} or no /chat/completions at {self._public_url}",
                retry=False,
            )
        return _Outcome(f"HTTPStatusError: {label} from {self._public_url}", retry=False)

    def _parse(self, response: httpx.Response) -> Reply | _Outcome:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            return _Outcome("ResponseError: reply is not JSON", retry=True)
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return _Outcome("ResponseError: reply has no choices", retry=True)
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, Mapping) else None
        finish = choice.get("finish_reason")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        served = {
            name: value[:200]
            for name, key in (("served_model", "model"), ("system_fingerprint", "system_fingerprint"))
            if isinstance(value := body.get(key), str) and value
        }
        if served and served.items() - self._served.items():
            # Rebound, never mutated, so `info` can read it while workers run.
            self._served = {**self._served, **served}
        return Reply(
            # No content with a finish reason (content filter, budget spent on reasoning) is
            # still the model's answer: an empty one.
            text=content if isinstance(content, str) else "",
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            finish_reason=finish if isinstance(finish, str) else None,
            model=served.get("served_model"),
        )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
