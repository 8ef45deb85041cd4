"""The `openai:` backend over real HTTP against the local test server (127.0.0.1 only)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from evaluator.backends import BackendError, BackendOptions, GenerationParams, Reply, make_backend
from evaluator.backends.openai import OpenAIBackend, parse_retry_after
from tests.support.openai_server import SAFE_REPLY, OpenAIServer, mirror

KEY_ENV = "CSL_TEST_OPENAI_KEY"
SECRET_KEY = "sk-test-0123456789abcdef-never-print-me"
REPO = Path(__file__).resolve().parents[3]


def convo(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


PROMPTS = [convo(f"item {i}: I have not slept in days and everything feels hopeless") for i in range(12)]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def make(openai_server: OpenAIServer) -> Iterator[Any]:
    made: list[OpenAIBackend] = []

    def build(url: str | None = None, **kwargs: Any) -> OpenAIBackend:
        options: dict[str, Any] = {
            "base_url": url or openai_server.url,
            "api_key_env": KEY_ENV,
            "timeout_s": 5.0,
            "backoff_base_s": 0.01,
            "backoff_cap_s": 0.05,
        }
        options.update(kwargs)
        backend = OpenAIBackend("test-model", **options)
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


def test_replies_in_order_with_usage_and_one_callback_each(openai_server: OpenAIServer, make: Any) -> None:
    def jittery(model: str, messages: list[dict[str, Any]]) -> str:
        # Later items answer first, so completion order differs from submission order.
        index = int(mirror(model, messages).split(":")[0].split()[1])
        time.sleep(0.005 * (len(PROMPTS) - index))
        return mirror(model, messages)

    openai_server.responder = jittery
    calls: list[int] = []
    active = 0

    def on_reply(index: int, reply: Reply) -> None:
        nonlocal active
        active += 1
        assert active == 1, "callbacks overlapped"
        time.sleep(0.002)
        calls.append(index)
        active -= 1

    replies = make(concurrency=4).generate(PROMPTS, GenerationParams(), on_reply)

    assert [r.text for r in replies] == [p[0]["content"] for p in PROMPTS]
    assert sorted(calls) == list(range(len(PROMPTS)))
    for reply in replies:
        assert reply.ok and reply.attempts == 1 and reply.finish_reason == "stop"
        assert reply.prompt_tokens == reply.completion_tokens == 12
        assert reply.latency_s > 0


def test_request_carries_generation_params(openai_server: OpenAIServer, make: Any) -> None:
    params = GenerationParams(temperature=0.7, top_p=0.9, seed=42, max_new_tokens=5, system_prompt="Be kind.")
    [reply] = make().generate([convo("hello")], params)

    [request] = openai_server.requests
    assert request.model == "test-model"
    assert request.messages == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hello"}]
    body = request.body
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.7, 0.9, 42, 5)
    assert "response_format" not in body
    assert "authorization" not in request.headers  # no key set: local servers need none
    # The canned reply is longer than 5 tokens: the server truncates, as a real one would.
    assert reply.finish_reason == "length" and reply.completion_tokens == 5
    assert reply.text == " ".join(SAFE_REPLY.split()[:5])


def test_429_with_retry_after_then_success(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.fail(429, times=1, retry_after="1")
    started = time.perf_counter()
    [reply] = make().generate([convo("hi")], GenerationParams())
    elapsed = time.perf_counter() - started

    assert reply.ok and reply.attempts == 2
    assert openai_server.request_count == 2
    assert elapsed >= 1.0, "Retry-After: 1 must be waited out, whatever the backoff base"


def test_retry_after_is_capped(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.fail(429, times=1, retry_after="3600")
    [reply] = make(retry_after_cap_s=0.05).generate([convo("hi")], GenerationParams())
    assert reply.ok and reply.attempts == 2


def test_500_then_success(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.fail(500, times=2)
    [reply] = make().generate([convo("hi")], GenerationParams())
    assert reply.ok and reply.attempts == 3 and reply.text == SAFE_REPLY


def test_persistent_500_fails_only_that_item_without_leaking_the_prompt(
    openai_server: OpenAIServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)
    secret = "my secret plan for tonight"
    openai_server.fail(500, when=lambda r: secret in r.last_user)
    conversations = [convo("first"), convo(secret), convo("third")]

    replies = make(max_retries=3).generate(conversations, GenerationParams())

    assert [r.ok for r in replies] == [True, False, True]
    failed = replies[1]
    assert failed.text is None and failed.attempts == 4
    assert failed.error == "HTTPStatusError: HTTP 500 (injected_500) after 4 attempts"
    # The server's error body quotes the prompt; none of it may reach the cause.
    assert secret not in failed.error and SECRET_KEY not in failed.error


def test_slow_reply_is_retried_after_timeout(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.slow(2.0, times=1)
    [reply] = make(timeout_s=0.3).generate([convo("hi")], GenerationParams())
    assert reply.ok and reply.attempts == 2


def test_persistently_slow_reply_times_out_with_cause(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.slow(2.0)
    [reply] = make(timeout_s=0.3, max_retries=2).generate([convo("hi")], GenerationParams())
    assert not reply.ok and reply.attempts == 3
    assert reply.error == "TimeoutError: no reply within 0.3 s after 3 attempts"
    assert openai_server.request_count == 3


def test_concurrency_reaches_but_never_exceeds_the_bound(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.latency_s = 0.1
    conversations = [convo(f"q{i}") for i in range(40)]
    replies = make(concurrency=8).generate(conversations, GenerationParams())
    assert all(r.ok for r in replies)
    assert openai_server.request_count == 40
    assert openai_server.max_in_flight == 8


def test_concurrency_bound_holds_across_overlapping_generate_calls(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.latency_s = 0.05
    backend = make(concurrency=4)
    threads = [
        threading.Thread(target=backend.generate, args=([convo(f"t{t}-{i}") for i in range(8)], GenerationParams()))
        for t in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert openai_server.request_count == 24
    assert openai_server.max_in_flight == 4


def test_authorization_header_sent_and_key_never_shown(
    openai_server: OpenAIServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)
    openai_server.api_key = SECRET_KEY
    backend = make()
    [reply] = backend.generate([convo("hi")], GenerationParams())

    assert reply.ok
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert SECRET_KEY not in repr(backend) and SECRET_KEY not in repr(backend.info)


def test_rejected_key_is_reported_without_the_key(
    openai_server: OpenAIServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)
    openai_server.api_key = "sk-the-right-one"
    [reply] = make().generate([convo("hi")], GenerationParams())

    assert not reply.ok and reply.attempts == 1  # auth failures are not retried
    assert reply.error is not None
    assert reply.error.startswith("HTTPStatusError: HTTP 401 (invalid_api_key)")
    assert f"the key in {KEY_ENV} was refused" in reply.error
    assert SECRET_KEY not in reply.error


def test_401_without_key_says_which_variable_to_set(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.api_key = "sk-required"
    [reply] = make().generate([convo("hi")], GenerationParams())
    assert not reply.ok and reply.error is not None
    assert f"set {KEY_ENV}" in reply.error and openai_server.url in reply.error


def test_other_4xx_is_not_retried(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.fail(404)
    [reply] = make().generate([convo("hi")], GenerationParams())
    assert not reply.ok and reply.attempts == 1 and openai_server.request_count == 1
    assert reply.error is not None and reply.error.startswith("HTTPStatusError: HTTP 404")


SCHEMA = {"type": "object", "properties": {"level": {"type": "integer"}}, "required": ["level"]}


def test_json_schema_is_sent_as_response_format(openai_server: OpenAIServer, make: Any) -> None:
    [reply] = make().generate([convo("judge this")], GenerationParams(json_schema=SCHEMA))
    assert reply.ok
    assert openai_server.requests[0].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": False},
    }


def test_server_without_response_format_gets_plain_requests(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.supports_response_format = False
    backend = make(concurrency=1)
    replies = backend.generate([convo("a"), convo("b")], GenerationParams(json_schema=SCHEMA))

    assert all(r.ok for r in replies)
    assert [r.attempts for r in replies] == [2, 1]  # the fallback is remembered
    assert ["response_format" in r.body for r in openai_server.requests] == [True, False, False]
    assert backend.info.details["response_format"] == "unsupported"


def _refused_port() -> socket.socket:
    # Bound but not listening: connects are refused, and no one else can take the port meanwhile.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_connection_refused_fails_fast_naming_the_url(make: Any) -> None:
    with _refused_port() as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        started = time.perf_counter()
        # The production backoff (1 s base, 5 retries): a refused connection must not climb it.
        replies = make(url, concurrency=1, backoff_base_s=1.0, backoff_cap_s=30.0).generate(
            [convo("a"), convo("b"), convo("c")], GenerationParams()
        )
        elapsed = time.perf_counter() - started

    assert all(not r.ok for r in replies)
    refused = f"ConnectError: connection refused by {url} (is the server running?)"
    # One quick second try (a server just starting), then the item fails naming the URL.
    assert replies[0].error == f"{refused} after 2 attempts"
    # Once the endpoint is known to be down, later items do not sit through the backoff again.
    assert [r.attempts for r in replies] == [2, 1, 1]
    assert replies[1].error == refused
    assert elapsed < 3


def test_callback_error_stops_the_batch(openai_server: OpenAIServer, make: Any) -> None:
    openai_server.latency_s = 0.05

    def explode(index: int, reply: Reply) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        make(concurrency=1).generate([convo(f"q{i}") for i in range(20)], GenerationParams(), explode)
    time.sleep(0.1)
    assert openai_server.request_count < 5


def test_info_and_factory(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    backend = make_backend("openai:test-model", BackendOptions(api_key_env=KEY_ENV))
    try:
        assert isinstance(backend, OpenAIBackend)
        info = backend.info
        assert (info.spec, info.model, info.revision, info.model_type) == (
            "openai:test-model",
            "test-model",
            None,
            "api",
        )
        assert info.details == {"base_url": openai_server.url}
        [reply] = backend.generate([convo("hi")], GenerationParams())
        assert reply.ok
        assert backend.info.details["system_fingerprint"] == "fp_local_test"
    finally:
        backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.generate([convo("hi")], GenerationParams())


def test_base_url_credentials_are_not_recorded(openai_server: OpenAIServer, make: Any) -> None:
    url = openai_server.url.replace("http://", "http://user:hunter2@")
    backend = make(url)
    assert "hunter2" not in str(backend.info.details) and "hunter2" not in repr(backend)


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_server_runs_as_a_subprocess(make: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_server", "--responder", "tests.support.openai_server:refusal"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        [reply] = make(url).generate([convo("hi")], GenerationParams())
        assert reply.text == "I'm sorry, but I can't help with that."
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


def _serve_one_reply_per_connection(accepted: list[int], stop: threading.Event) -> socket.socket:
    """A server that answers one request per connection and then drops it, without saying
    so (no `Connection: close`), as a server whose keep-alive idle timeout ran out does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    body = b'{"model": "test-model", "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}'

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the test closed the listener
                return
            with conn:
                accepted.append(1)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(
                    next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_a_kept_alive_connection_the_server_dropped_is_replaced_without_a_retry(make: Any) -> None:
    accepted: list[int] = []
    stop = threading.Event()
    with _serve_one_reply_per_connection(accepted, stop) as listener:
        try:
            backend = make(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", concurrency=1)
            replies = backend.generate([convo(f"q{i}") for i in range(3)], GenerationParams())
        finally:
            stop.set()
    assert [(r.text, r.attempts) for r in replies] == [("ok", 1)] * 3
    assert len(accepted) == 3


def test_connections_are_kept_alive_across_batches(
    openai_server: OpenAIServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.client

    connects: list[int] = []
    real_connect = http.client.HTTPConnection.connect

    def counted(self: http.client.HTTPConnection) -> None:
        connects.append(1)
        real_connect(self)

    monkeypatch.setattr(http.client.HTTPConnection, "connect", counted)
    openai_server.latency_s = 0.02
    backend = make(concurrency=4)
    for batch in range(3):
        assert all(r.ok for r in backend.generate([convo(f"{batch}-{i}") for i in range(8)], GenerationParams()))
    # 24 requests, at most 4 at a time: at most one connection per slot, made once.
    assert openai_server.request_count == 24
    assert 1 <= len(connects) <= 4


def test_an_oversized_reply_is_refused_unread(
    openai_server: OpenAIServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evaluator.backends import openai

    monkeypatch.setattr(openai, "MAX_RESPONSE_BYTES", 2_000)
    openai_server.responder = lambda model, messages: "word " * 1_000
    [reply] = make().generate([convo("hi")], GenerationParams())
    assert not reply.ok and reply.attempts == 1
    assert reply.error == f"ResponseError: reply from {openai_server.url} is over 2,000 bytes"
