"""Server-sent events: a job's progress stream as `text/event-stream`, for curl, proxies and
clients without WebSockets. Each message is `id: <seq>` and `data: <the JSON a WebSocket
gets>`; an idle stream gets a keep-alive comment; a stream that ends for a passing reason
(Redis down, a restart) ends with a `retry:` hint, after which EventSource reconnects with
`Last-Event-ID` by itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.progress.service import (
    CLOSE_GOING_AWAY,
    CLOSE_TRY_AGAIN_LATER,
    RECONNECT_HINT_SECONDS,
    Ending,
    Sink,
)

# How long the last lines may wait for a slow client before the response is left as it is.
FINISH_SECONDS = 5.0
KEEPALIVE = b": keep-alive\n\n"


class _EventSink:
    def __init__(self, send: Send) -> None:
        self._send = send

    async def send(self, text: str, seq: int | None) -> None:
        head = f"id: {seq}\n" if seq is not None else ""
        await self.write(f"{head}data: {text}\n\n".encode())

    async def idle(self) -> None:
        await self.write(KEEPALIVE)

    def express(self, frame: bytes) -> bool:
        return False  # WebSocket frames only

    async def write(self, chunk: bytes) -> None:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})


class EventStreamResponse(Response):
    """Runs one progress stream into the response body until it ends or the client goes."""

    media_type = "text/event-stream"

    def __init__(self, run: Callable[[Sink], Awaitable[Ending]]) -> None:
        # Not Response.__init__: a stream has no Content-Length.
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        sink = _EventSink(send)
        ending: Ending | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_disconnect, receive, group.cancel_scope)
            with suppress(OSError):  # the client went away mid-write
                ending = await self._run(sink)
            group.cancel_scope.cancel()
        if ending is None:
            return
        with anyio.move_on_after(FINISH_SECONDS), suppress(OSError):
            if ending.code in (CLOSE_TRY_AGAIN_LATER, CLOSE_GOING_AWAY):
                hint = f"retry: {RECONNECT_HINT_SECONDS * 1000}\n: {ending.reason}\n\n"
                await sink.write(hint.encode())
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
