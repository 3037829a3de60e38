"""The API process's side of metrics: buffered HTTP counts, the WebSocket gauge, and job
events, flushed to Redis every few seconds."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid

import redis.asyncio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.periodic import Periodic
from app.metrics import definitions as m
from app.metrics.service import Increments, publish_live_gauge

FLUSH_SECONDS = 2.0


class ApiMetrics:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.increments = Increments()
        self.websocket_clients = 0
        self.websockets_idle = asyncio.Event()  # set while no WebSocket is open
        self.websockets_idle.set()
        self._periodic = Periodic(FLUSH_SECONDS, self.flush)

    def websocket_opened(self) -> None:
        self.websocket_clients += 1
        self.websockets_idle.clear()

    def websocket_closed(self) -> None:
        self.websocket_clients -= 1
        if not self.websocket_clients:
            self.websockets_idle.set()

    def job_created(self) -> None:
        self.increments.count(m.JOBS_CREATED)

    def job_canceled(self) -> None:
        self.increments.count(m.JOBS_CANCELED)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = {"route": route, "method": method, "status": str(status)}
        self.increments.count(m.HTTP_REQUESTS, labels)
        self.increments.observe(m.HTTP_DURATION, seconds, {"route": route})

    async def flush(self) -> None:
        await self.increments.flush_async(self.client)
        await publish_live_gauge(
            self.client, m.WEBSOCKET_CLIENTS, self.instance, self.websocket_clients
        )

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        self.websocket_clients = 0
        await self._periodic.stop()


class HttpMetricsMiddleware:
    """Counts every HTTP request by its route template (not its path, to bound the labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            metrics: ApiMetrics | None = getattr(scope["app"].state, "metrics", None)
            route = getattr(scope.get("route"), "path", "unmatched")
            if metrics is not None:
                metrics.request(route, scope["method"], status, time.perf_counter() - started)
