"""A local OpenAI-compatible server: real HTTP on 127.0.0.1, for tests and benchmarks.

Tests never touch the network, yet the `openai:` backend's retries, timeouts and concurrency
bound are only proven against a real socket. One server can stand in for both the model
under evaluation and the judge: the responder sees the request's "model" field.

In-process:

    with OpenAIServer(responder=lambda model, messages: "hi", latency_s=0.05) as server:
        server.fail(status=429, times=2, retry_after="1")
        ... OpenAIBackend("test-model", base_url=server.url) ...
        assert server.max_in_flight <= 16

As a subprocess (prints its base URL on the first line of stdout, then serves until killed):

    python -m tests.support.openai_server --port 0 --latency 0.1 --responder echo
    python -m tests.support.openai_server --responder mypkg.mymod:respond
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[str, list[dict[str, Any]]], str]

SAFE_REPLY = (
    "I'm really glad you told me. That sounds like a lot to carry, and you don't have to face "
    "it alone. Are you safe right now? If you might act on thoughts of harming yourself, please "
    "call or text a crisis line such as 988 in the US, or your local emergency number. Would you "
    "like to tell me more about what's been happening?"
)
REFUSAL_REPLY = "I'm sorry, but I can't help with that."


def echo(model: str, messages: list[dict[str, Any]]) -> str:
    """The same safe, supportive canned reply to everything."""
    return SAFE_REPLY


def refusal(model: str, messages: list[dict[str, Any]]) -> str:
    return REFUSAL_REPLY


def mirror(model: str, messages: list[dict[str, Any]]) -> str:
    """The last user message back, so a test can tell which reply answers which prompt."""
    return last_user_text(messages)


RESPONDERS: dict[str, Responder] = {"echo": echo, "refusal": refusal, "mirror": mirror}


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def load_responder(name: str) -> Responder:
    """A built-in responder by name, or any callable as `package.module:function`."""
    if name in RESPONDERS:
        return RESPONDERS[name]
    module_name, sep, attr = name.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"unknown responder {name!r}: expected one of {', '.join(RESPONDERS)} or module:function")
    found = getattr(importlib.import_module(module_name), attr)
    if not callable(found):
        raise ValueError(f"{name} is not callable")
    return found


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One POST /v1/chat/completions as the server received it."""

    number: int  # 1-based order of arrival
    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    headers: dict[str, str]  # names lower-cased

    @property
    def last_user(self) -> str:
        return last_user_text(self.messages)


@dataclass(slots=True)
class Fault:
    """Misbehave on matching requests: answer `status` instead, and/or answer after `delay_s`.

    `times` None means every matching request; `when` None matches all. `hits` counts uses.
    """

    status: int | None = None
    delay_s: float = 0.0
    retry_after: str | None = None
    times: int | None = None
    when: Callable[[ChatRequest], bool] | None = None
    hits: int = 0

    def matches(self, request: ChatRequest) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.when is None or bool(self.when(request))


def _words(text: str) -> int:
    return len(text.split())


class OpenAIServer:
    def __init__(
        self,
        responder: Responder | str = echo,
        *,
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] = ("test-model",),
        api_key: str | None = None,
        supports_response_format: bool = True,
    ) -> None:
        # Public and mutable: a test may swap behaviour between calls on a running server.
        self.responder: Responder = load_responder(responder) if isinstance(responder, str) else responder
        self.latency_s = latency_s
        self.models = list(models)
        self.api_key = api_key
        self.supports_response_format = supports_response_format
        # The model id a response reports, per request (default: the one asked for); a test
        # may change it mid-run, as a provider moving an alias to a new snapshot does.
        self.reported_model: Callable[[ChatRequest], str] | None = None
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults: list[Fault] = []
        self._requests: list[ChatRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self._host, self._port), _Handler, self)
        # shutdown() waits up to one poll interval; the default 0.5 s would dominate test time.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="openai-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping out a latency or a slow fault
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL an OpenAI client wants: http://127.0.0.1:PORT/v1."""
        return f"http://{self._host}:{self.port}/v1"

    # fault injection ----------------------------------------------------------------------

    def fail(
        self,
        status: int | None = 500,
        *,
        times: int | None = None,
        when: Callable[[ChatRequest], bool] | None = None,
        delay_s: float = 0.0,
        retry_after: str | None = None,
    ) -> Fault:
        """Answer matching requests with `status` (None: the normal reply) after `delay_s`."""
        fault = Fault(status=status, delay_s=delay_s, retry_after=retry_after, times=times, when=when)
        with self._lock:
            self._faults.append(fault)
        return fault

    def slow(
        self, delay_s: float, *, times: int | None = None, when: Callable[[ChatRequest], bool] | None = None
    ) -> Fault:
        """Answer normally but only after `delay_s`, e.g. past the client's timeout."""
        return self.fail(None, times=times, when=when, delay_s=delay_s)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @contextmanager
    def faulty(self, status: int | None = 500, **kwargs: Any) -> Iterator[Fault]:
        fault = self.fail(status, **kwargs)
        try:
            yield fault
        finally:
            with self._lock:
                if fault in self._faults:
                    self._faults.remove(fault)

    # observations -------------------------------------------------------------------------

    @property
    def requests(self) -> list[ChatRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight

    # request handling (called from handler threads) ----------------------------------------

    def _receive(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[ChatRequest, Fault | None]:
        with self._lock:
            request = ChatRequest(
                number=len(self._requests) + 1,
                model=str(body.get("model", "")),
                messages=list(body.get("messages") or []),
                body=body,
                headers=headers,
            )
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            fault = next((f for f in self._faults if f.matches(request)), None)
            if fault is not None:
                fault.hits += 1
        return request, fault

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _chat(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        request, fault = self._receive(body, headers)
        try:
            delay = self.latency_s + (fault.delay_s if fault else 0.0)
            if delay and self._stopping.wait(delay):
                return 503, _error("server shutting down", "server_error", "shutting_down"), {}
            if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"), {}
            if fault is not None and fault.status is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                # Echoes the prompt like some real providers do, so tests can prove the client
                # keeps error bodies out of its causes.
                message = f"injected failure while answering: {request.last_user}"
                return fault.status, _error(message, _error_type(fault.status), f"injected_{fault.status}"), extra
            if "response_format" in body and not self.supports_response_format:
                message = f"response_format is not supported by this server (prompt: {request.last_user})"
                return 400, _error(message, "BadRequestError", None, param="response_format"), {}
            return 200, self._completion(request), {}
        finally:
            self._done()

    def _completion(self, request: ChatRequest) -> dict[str, Any]:
        text = self.responder(request.model, request.messages)
        limit = request.body.get("max_tokens") or request.body.get("max_completion_tokens")
        finish = "stop"
        words = text.split()
        if isinstance(limit, int) and len(words) > limit:
            text, finish = " ".join(words[:limit]), "length"
        prompt_tokens = sum(_words(str(m.get("content", ""))) for m in request.messages)
        completion_tokens = _words(text)
        return {
            "id": f"chatcmpl-test-{request.number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model if self.reported_model is None else self.reported_model(request),
            "system_fingerprint": "fp_local_test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "local-test"} for m in self.models],
        }


def _error(message: str, kind: str, code: str | None, *, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The stdlib default backlog of 5 drops connects when a client opens dozens at once.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: OpenAIServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is expected here, not a failure.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and httpx's pool expect
    # Headers and body leave in one segment: written apart, Nagle and delayed ACKs add ~40 ms
    # to every reply on a kept-alive connection.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, self.server.owner._models())
        else:
            self._send(404, _error(f"no route {self.path}", "invalid_request_error", "not_found"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, _error(f"no route {self.path}", "invalid_request_error", "not_found"))
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError:
            self._send(400, _error("request body is not a JSON object", "invalid_request_error", "bad_json"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload, extra = self.server.owner._chat(body, headers)
        except Exception:
            traceback.print_exc()
            status, payload, extra = 500, _error("responder raised", "server_error", "responder_error"), {}
        self._send(status, payload, extra)

    def _send(self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except ConnectionError:
            self.close_connection = True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.openai_server",
        description="Serve a local OpenAI-compatible API for tests. Prints the base URL, then serves until killed.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument(
        "--responder", default="echo", help=f"one of {', '.join(RESPONDERS)}, or module:function (default echo)"
    )
    parser.add_argument("--model", action="append", dest="models", help="a model id for GET /v1/models (repeatable)")
    parser.add_argument("--api-key", help="require this bearer key (401 otherwise)")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N", help="fail the first N chat requests")
    parser.add_argument("--fail-status", type=int, default=500, help="status for --fail-first (default 500)")
    parser.add_argument("--retry-after", help="Retry-After header value sent with injected failures")
    args = parser.parse_args(argv)
    try:
        responder = load_responder(args.responder)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = OpenAIServer(
        responder,
        latency_s=args.latency,
        host=args.host,
        port=args.port,
        models=args.models or ("test-model",),
        api_key=args.api_key,
    )
    if args.fail_first:
        server.fail(args.fail_status, times=args.fail_first, retry_after=args.retry_after)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        print(server.url, flush=True)
        while not stop.wait(0.5):
            pass
        # The last line, for a benchmark that ran it in its own process: what it served.
        print(json.dumps({"requests": server.request_count, "max_in_flight": server.max_in_flight}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
