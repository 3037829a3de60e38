"""The API process's side of metrics: buffered HTTP counts, the WebSocket gauge and accepted
jobs, flushed to Redis every few seconds."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import redis.asyncio

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

    async def jobs_created(self, count: int = 1) -> None:
        """Async, to run on the event loop after the commit (the buffer is not thread-safe)."""
        self.increments.count(m.JOBS_CREATED, amount=count)

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
