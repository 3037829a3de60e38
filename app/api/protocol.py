"""uvicorn's HTTP/1.1 protocol with a deadline on the request head.

uvicorn times out idle keep-alive connections, but a client that opens a connection and
sends part of a request line or headers (or nothing) holds a connection, and its slot
among `--limit-concurrency`, for as long as it likes. This protocol closes a connection
whose request head is not complete within the deadline after its first byte or its
opening, whichever is earlier.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
