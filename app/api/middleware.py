"""The API's ASGI middlewares, all of one shape (`HttpMiddleware`): request ids, the body
limit, security headers, rate-limit headers and HTTP metrics."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.ratelimit import STATE_KEY, LimitState
from app.api.state import has_state, state_of
from app.core.logging import request_id_var

Headers = list[tuple[bytes, bytes]]


class HttpMiddleware:
    """Passes the scopes it does not handle through untouched; `handle` does the rest."""

    scopes: ClassVar[frozenset[str]] = frozenset({"http"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in self.scopes:
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def on_response_start(send: Send, edit: Callable[[Message], None]) -> Send:
    """`send`, with `edit` applied to the message that starts the response."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            edit(message)
        await send(message)

    return sending


def add_headers(message: Message, extra: Headers) -> None:
    message["headers"] = [*message.get("headers", []), *extra]


class RequestIdMiddleware(HttpMiddleware):
    """Echo X-Request-ID (or generate one) and bind it to every log line of the request."""

    scopes = frozenset({"http", "websocket"})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        header = [(b"x-request-id", request_id.encode())]
        if scope["type"] == "http":
            send = on_response_start(send, lambda m: add_headers(m, header))
        # (A WebSocket's messages go out unwrapped: a progress stream sends thousands.)
        try:
            await self.app(scope, receive, send)
        finally:
            request_id_var.reset(token)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware(HttpMiddleware):
    """Request bodies larger than MAX_REQUEST_BODY_BYTES get 413 in the API's error format;
    `path_limits` gives the few routes that take larger bodies (a cookie file) their own."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # a chunked body with no Content-Length
                raise _TooLarge()
            return message

        def note_start(_message: Message) -> None:
            nonlocal started
            started = True

        try:
            await self.app(scope, counting_receive, on_response_start(send, note_start))
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        error = {
            "code": "payload_too_large",
            "message": f"The request body is over {limit} bytes.",
        }
        body = json.dumps({"error": error}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


BASE_HEADERS: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# API responses are data, not pages; a page (the docs, the web UI) sets its own policy.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityHeadersMiddleware(HttpMiddleware):
    """Headers that make browsers treat API responses safely. A response that carries its
    own Content-Security-Policy keeps it; every other one gets API_CSP."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = list(BASE_HEADERS)
        # uvicorn sets the scheme from X-Forwarded-Proto for trusted proxies (--proxy-headers).
        if scope.get("scheme") == "https":
            extra.append(HSTS)

        def secure(message: Message) -> None:
            # A page that brings its own policy (the web UI, the docs) keeps it; every other
            # response is data and may load nothing.
            own = any(name.lower() == API_CSP[0] for name, _ in message.get("headers", []))
            add_headers(message, extra if own else [*extra, API_CSP])

        await self.app(scope, receive, on_response_start(send, secure))


class RateLimitHeadersMiddleware(HttpMiddleware):
    """Adds RateLimit-* headers to every response of a limited request."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        def add_limit(message: Message) -> None:
            limit = scope.get("state", {}).get(STATE_KEY)
            if not isinstance(limit, LimitState):
                return
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [
                (name.lower().encode(), value.encode())
                for name, value in limit.headers().items()
                if name.lower().encode() not in present
            ]
            add_headers(message, extra)

        await self.app(scope, receive, on_response_start(send, add_limit))


class HttpMetricsMiddleware(HttpMiddleware):
    """Counts every HTTP request by its route template (not its path, to bound the labels)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        def note_status(message: Message) -> None:
            nonlocal status
            status = message["status"]

        try:
            await self.app(scope, receive, on_response_start(send, note_status))
        finally:
            if has_state(scope["app"]):
                route = getattr(scope.get("route"), "path", "unmatched")
                elapsed = time.perf_counter() - started
                state_of(scope["app"]).metrics.request(route, scope["method"], status, elapsed)
