"""Request bounds for the public server (issue 10): no body over a limit is read, and no
caller's input is printed to the server log.

`BodyLimit` is a pure ASGI middleware given to Gradio's FastAPI app at launch. A declared
Content-Length over the limit is refused with 413 before a byte of the body is read; a body
without one (chunked) is read only up to the limit, then refused the same way.

`QuietBlocks` is the app's `gr.Blocks`. Gradio answers a call whose values do not fit the
event (too few of them, or one a component cannot read) with an exception whose text quotes
those values, and prints its traceback to the server log: anyone could write there, and an
admin token sent to the wrong event would be kept there. Such a call is answered with one
line (naming the event and how many values it takes, or the component's own refusal, such
as a number under its minimum) and nothing is printed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import gradio as gr
import orjson

from leaderboard.limits import MAX_REQUEST_BYTES
from leaderboard.query import QueryError, search_terms

MAX_ERROR_CHARS: Final = 300  # a refusal shown back to its caller
REFUSAL_DELAY_S: Final = 0.25  # a search refused at the door is answered this late

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await _refuse(send, self.max_bytes)
                return
            await self.app(scope, receive, send)
            return
        # No length declared: buffer up to the limit, so an endless chunked body stops here.
        read = await _read_body(receive, self.max_bytes)
        if read is None:
            await _refuse(send, self.max_bytes)
            return
        await self.app(scope, _replaying(read[0], receive), send)


class SearchGate:
    """Refuses a search the bounds refuse (leaderboard.limits) at the door, before Gradio
    queues anything: such a call would only be refused by the event itself, after an event,
    a queue slot and a result stream were spent on it. A flood of them then costs a JSON parse
    each and cannot fill the bounded queue that ordinary visitors wait in.

    Gated are the events with the page's search box among their inputs (elem_id "search"),
    called by name (`POST /gradio_api/call/NAME`) or by index (`POST /gradio_api/queue/join`).
    Anything else, or a body that is not the shape it expects, passes to Gradio unchanged."""

    def __init__(
        self, app: ASGIApp, blocks: Any = None, elem_id: str = "search", refusal_delay_s: float = REFUSAL_DELAY_S
    ) -> None:
        self.app = app
        self.refusal_delay_s = refusal_delay_s
        self._blocks = blocks
        self._elem_id = elem_id
        self._gated: dict[str | int, tuple[int, ...]] | None = None

    def gated(self) -> dict[str | int, tuple[int, ...]]:
        if self._gated is None:
            found: dict[str | int, tuple[int, ...]] = {}
            for index, fn in (getattr(self._blocks, "fns", None) or {}).items():
                positions = tuple(i for i, b in enumerate(fn.inputs) if getattr(b, "elem_id", None) == self._elem_id)
                if positions:
                    found[index] = positions
                    if fn.api_name and fn.api_visibility != "private":
                        found[fn.api_name] = positions
            self._gated = found
        return self._gated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        which = _gated_call(scope)
        if which is None:
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive, MAX_REQUEST_BYTES)  # BodyLimit, outside, has checked it already
        if read is None:
            await _refuse(send, MAX_REQUEST_BYTES)
            return
        messages, body = read
        problem = self._problem(which, body)
        if problem is not None:
            # Answered late, at no CPU cost (the coroutine sleeps): a client that loops on
            # refused input is slowed to a few requests a second instead of costing the
            # server its parse as fast as it can send. Floods from many connections at once
            # are for the front proxy's rate limit.
            await asyncio.sleep(self.refusal_delay_s)
            await _json_response(send, 422, {"detail": problem})
            return
        await self.app(scope, _replaying(messages, receive), send)

    def _problem(self, which: str, body: bytes) -> list[dict[str, Any]] | None:
        """Gradio's own answer to input its validation refuses (one entry per input), so the
        page marks the search box and gradio_client raises its ValidationError."""
        try:
            call = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(call, dict) or not isinstance(call.get("data"), list):
            return None
        key = call.get("fn_index") if which == "" else which
        if not isinstance(key, str | int) or isinstance(key, bool):
            return None
        data = call["data"]
        for position in self.gated().get(key, ()):
            value = data[position] if position < len(data) else None
            if isinstance(value, str):
                try:
                    search_terms(value)
                except QueryError as exc:
                    refused = {"__type__": "validate", "is_valid": False, "message": str(exc)}
                    passed = {"is_valid": True, "message": ""}
                    return [
                        refused | {"parameter_name": "search"} if i == position else passed
                        for i in range(max(len(data), position + 1))
                    ]
        return None


_CALL_PATH: Final = re.compile(r"/gradio_api/call/([^/]{1,200})/?")
_JOIN_PATH: Final = re.compile(r"/gradio_api/queue/join/?")


def _gated_call(scope: Scope) -> str | None:
    """The event name of a by-name call, "" for a queue join, None for anything else."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    path = str(scope.get("path", ""))
    if _JOIN_PATH.fullmatch(path):
        return ""
    named = _CALL_PATH.fullmatch(path)
    return named.group(1) if named else None


class QuietBlocks(gr.Blocks):
    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as exc:
            # A component's own refusal (a number under its minimum, a choice not offered) is
            # meant for the user: kept, on one bounded line, and not printed.
            raise gr.Error(" ".join(str(exc.message).split())[:MAX_ERROR_CHARS], print_exception=False) from None
        except Exception:
            # Gradio's text here quotes the values: none is repeated, to the caller or the log.
            name = block_fn.api_name if block_fn.api_name and block_fn.api_visibility != "private" else "this event"
            raise gr.Error(
                f"{name} takes {len(block_fn.inputs)} values, each of the type its input expects; "
                "see the API page for the types",
                print_exception=False,
            ) from None


async def _read_body(receive: Receive, max_bytes: int) -> tuple[list[Message], bytes] | None:
    """The request's messages as received and its body; None once it passes `max_bytes`."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return None
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands the app the messages already read, then the rest."""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    await _json_response(send, 413, {"detail": f"request body too large (at most {limit} bytes)"})


async def _json_response(send: Send, status: int, content: Any) -> None:
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["BodyLimit", "QuietBlocks", "SearchGate"]
