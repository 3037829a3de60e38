"""uvicorn's protocols, with two additions.

HTTP/1.1 with a deadline on the request head: uvicorn times out idle keep-alive
connections, but a client that opens a connection and sends part of a request line or
headers (or nothing) holds a connection, and its slot among `--limit-concurrency`, for as
long as it likes. `HeadTimeoutProtocol` closes a connection whose request head is not
complete within the deadline after its first byte or its opening, whichever is earlier.

WebSocket with an express lane: a progress event goes to thousands of sockets, and the
ASGI path (a task woken per socket, the message framed per socket) costs several times the
write itself. `ExpressWebSocketProtocol` offers the application, as the ASGI extension
`EXPRESS`, a plain function that writes an already framed text message when the
connection can take it at once (open, not paused by a full buffer); otherwise it says no
and the message takes the ASGI path, with its backpressure.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

logger = logging.getLogger(__name__)


class HeadTimeoutProtocol(HttpToolsProtocol):
    """httptools' protocol (uvicorn's default) plus the head deadline of `head_timeout`."""

    head_timeout: float = 10.0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_deadline()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            logger.info(
                "closed a connection from %s: no complete request head in %s s",
                self.client[0] if self.client else "?",
                self.head_timeout,
            )
            self.transport.close()


def head_timeout_protocol(seconds: float) -> type[HeadTimeoutProtocol]:
    """The protocol class for uvicorn's `http=`, with REQUEST_HEAD_TIMEOUT_SECONDS."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout": seconds})


EXPRESS = "yds.express"  # the ASGI extension: scope["extensions"][EXPRESS](frame) -> bool


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame (what a server sends; no extensions)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return head + payload


class ExpressWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets' sans-I/O), plus the express lane."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][EXPRESS] = self.express

    def express(self, frame: bytes) -> bool:
        """Write `frame` now if the connection takes it without waiting."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.conn.extensions  # a negotiated extension would have to see each frame
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
