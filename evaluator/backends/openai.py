"""`openai:MODEL`: any OpenAI-compatible `/chat/completions` endpoint over HTTP.

Hosted APIs, `vllm serve` and llama.cpp servers all speak this dialect. Rate limits and
flaky networks are normal here, so this layer owns retries, backoff and the concurrency
bound (ARCHITECTURE.md: they live in the backend, not in the judge or metrics).

Held-out items are secret: a provider's error body may quote the prompt back, so error
causes carry only the status, a short sanitised error code and the endpoint, never a body.
The API key never leaves the request headers.

The transport is the standard library's `http.client` over kept-alive connections that
outlive a batch, driven by one thread pool that lives as long as the backend. A conversation
run sends a batch per turn, so per-request client work lands on every turn's critical path:
httpx did about four times the CPU per request under 32 threads (its pool scans every
connection under one lock, and its h11 state machine is pure Python), which alone cost about
15% of the ideal wall time in benchmarks/conversations.py.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

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


# A reply larger than this is refused unread: the base URL may be a submitter's server.
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Response:
    """A whole HTTP response, read off the connection before it goes back to the pool."""

    status_code: int
    headers: Mapping[str, str]  # names lower-cased
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _TooLarge(Exception):
    pass


class _Connections:
    """Kept-alive connections to one origin, each used by one request at a time.

    Idle connections wait on a stack (the most recent first, the least likely to have been
    dropped by the server); a request takes one or opens a new one. At most `concurrency`
    are in use at once, since the backend's slots bound the requests.
    """

    def __init__(self, url: str, connect_timeout_s: float, timeout_s: float) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        # One TLS context for all connections: building one loads the CA store (milliseconds).
        self._tls = ssl.create_default_context() if self._https else None

    def take(self, *, new: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """(connection, whether it was used before); a new one (or any, with `new`) is connected here."""
        with self._lock:
            if self._idle and not new:
                return self._idle.pop(), True
        connection: http.client.HTTPConnection
        if self._tls is not None:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout_s, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout_s)
        try:
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(self._timeout_s)
        except BaseException:
            connection.close()
            raise
        return connection, False

    def give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _read(connection: http.client.HTTPConnection) -> tuple[_Response, bool]:
    """The response to the request just sent, and whether the connection may be reused."""
    response = connection.getresponse()
    content = response.read(MAX_RESPONSE_BYTES + 1)
    if len(content) > MAX_RESPONSE_BYTES:
        raise _TooLarge
    headers = {name.lower(): value for name, value in response.getheaders()}
    reusable = response.isclosed() and not response.will_close
    return _Response(response.status, headers, content), reusable


class _Connect(Exception):
    """No connection could be made; the cause is the OS or TLS error."""


# A kept-alive connection the server has meanwhile closed fails like this before any reply;
# the request never reached the model, so it is sent again once on a new connection.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def _error_code(response: _Response) -> str | None:
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


def _mentions(response: _Response, word: str) -> bool:
    try:
        return word in response.text.lower()
    except (UnicodeDecodeError, ValueError):
        return False


# A refused connection is retried once, after this long (plus jitter), not with backoff.
REFUSED_RETRY_S: Final = 0.25


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
        parts = urlsplit(url)
        self._path = (parts.path or "") + "/chat/completions" + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": "crisis-safety-leaderboard", "Content-Type": "application/json"}
        if self._has_key:
            headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"
        elif parts.username:  # credentials written into the URL, as an HTTP client honours them
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        self._headers = headers
        self._connections = _Connections(url, min(timeout_s, 30.0), timeout_s)
        # Lives as long as the backend: a conversation run calls generate once per turn.
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

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
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            # Requests still running end on their own timeout; nothing waits for them here.
            pool.shutdown(wait=False, cancel_futures=True)
        self._connections.close()

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="openai")
            return self._pool

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
        pool = self._workers()
        futures: dict[Future[Reply], int] = {}
        try:
            for index, conversation in enumerate(conversations):
                futures[pool.submit(self._complete, conversation, params, stop)] = index
            # Callbacks run here, on the caller's thread, so they never overlap.
            for future in as_completed(futures):
                index = futures[future]
                reply = future.result()
                replies[index] = reply
                if on_reply:
                    on_reply(index, reply)
        except BaseException:
            # A failing callback or Ctrl-C: abandon this call's queued items (the pool and other
            # calls' items go on) and cut its backoff sleeps short.
            stop.set()
            for future in futures:
                future.cancel()
            raise
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
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with self._slots:
            try:
                response = self._post(body)
            except _Connect as failed:
                exc = failed.__cause__
                if isinstance(exc, ConnectionRefusedError):
                    # Nothing listens there: one quick second try (a server just starting), never
                    # the whole backoff ladder, so a wrong URL fails in seconds and says which.
                    cause = f"ConnectError: connection refused by {self._public_url} (is the server running?)"
                    return _Outcome(cause, retry=True, connect=True, wait_s=REFUSED_RETRY_S, refused=True)
                return _Outcome(f"ConnectError: cannot reach {self._public_url} (offline?)", retry=True, connect=True)
            except TimeoutError:
                return _Outcome(f"TimeoutError: no reply within {self._timeout_s:g} s", retry=True)
            except _TooLarge:
                cause = f"ResponseError: reply from {self._public_url} is over {MAX_RESPONSE_BYTES:,} bytes"
                return _Outcome(cause, retry=False)
            except (OSError, http.client.HTTPException) as exc:
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

    def _post(self, body: bytes) -> _Response:
        """One POST on a pooled connection; a reused one the server has dropped is replaced once."""
        for again in (False, True):
            try:
                connection, reused = self._connections.take(new=again)
            except (OSError, http.client.HTTPException) as exc:  # TLS and DNS failures too
                raise _Connect from exc
            try:
                connection.request("POST", self._path, body=body, headers=self._headers)
                response, reusable = _read(connection)
            except _STALE:
                connection.close()
                if reused:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            if reusable:
                self._connections.give_back(connection)
            else:
                connection.close()
            return response
        raise AssertionError("unreachable: the second try uses a new connection")

    def _parse(self, response: _Response) -> Reply | _Outcome:
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
