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

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import gradio as gr

from leaderboard.limits import MAX_REQUEST_BYTES

MAX_ERROR_CHARS: Final = 300  # a refusal shown back to its caller

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
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _refuse(send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


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


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body too large (at most {limit} bytes)"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["BodyLimit", "QuietBlocks"]
