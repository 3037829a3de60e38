"""Progress-stream clients for tests: a server-sent events reader, a WebSocket follower that
records everything, a WebSocket client that stops reading (to play a stuck client), and
events published the way workers publish them, for jobs no worker runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from app.jobs import events
from app.jobs.events import ProgressEvent
from app.jobs.models import JobStage, JobStatus
from tests.support.jobs import submit
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.stack import Stack


@dataclass
class SseMessage:
    id: str | None
    data: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.data)
        return parsed


@dataclass
class SseRead:
    messages: list[SseMessage] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None


class SseStream:
    """Reads a `text/event-stream` body incrementally, keeping what it parsed."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.read = SseRead()
        self._id: str | None = None
        self._data: list[str] = []

    async def until(self, done: Callable[[SseRead], bool] | None = None) -> SseRead:
        """Parse until `done(read)` holds, or to the end of the body without `done`."""
        async for line in self._lines:
            self._take(line)
            if done is not None and done(self.read):
                return self.read
        assert done is None, f"the stream ended early: {self.read}"
        return self.read

    def _take(self, line: str) -> None:
        if line.startswith(":"):
            self.read.comments.append(line[1:].strip())
        elif line.startswith("id:"):
            self._id = line[3:].strip()
        elif line.startswith("data:"):
            self._data.append(line[5:].strip())
        elif line.startswith("retry:"):
            self.read.retry = int(line[6:].strip())
        elif line == "" and self._data:
            self.read.messages.append(SseMessage(self._id, "\n".join(self._data)))
            self._id, self._data = None, []


@dataclass
class Follower:
    """Everything one WebSocket received, as text, and how it was closed."""

    messages: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    arrived_at: list[float] = field(default_factory=list)  # time.time() of each message

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(message) for message in self.messages]

    @property
    def last_seq(self) -> int:
        return int(json.loads(self.messages[-1])["seq"] or 0) if self.messages else -1


async def follow(
    url: str,
    key: str,
    follower: Follower,
    *,
    changed: asyncio.Condition | None = None,
    within: float = 120.0,
) -> Follower:
    """Record a WebSocket's messages until the server closes it; `changed` is notified after
    each message (for tests that wait until followers have seen something)."""
    try:
        async with (
            asyncio.timeout(within),
            connect(url, additional_headers={"X-API-Key": key}, open_timeout=60) as ws,
        ):
            async for message in ws:
                follower.messages.append(str(message))
                follower.arrived_at.append(time.time())
                if changed is not None:
                    async with changed:
                        changed.notify_all()
    except ConnectionClosed as closed:
        follower.close_code = closed.rcvd.code if closed.rcvd else None
        follower.close_reason = closed.rcvd.reason if closed.rcvd else ""
    if follower.close_code is None:  # a clean close ends `async for` without raising
        follower.close_code = ws.close_code
        follower.close_reason = ws.close_reason or ""
    if changed is not None:
        async with changed:
            changed.notify_all()
    return follower


class StalledClient:
    """A WebSocket client that reads the handshake and the first message, then nothing until
    told to, with a small receive buffer so the server's sends soon back up."""

    def __init__(self, url: str, key: str, *, receive_buffer: int = 4096) -> None:
        parts = urlsplit(url)
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self._sock.settimeout(30)
        self._sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        request = self.protocol.connect()
        request.headers["X-API-Key"] = key
        self.protocol.send_request(request)
        self._flush()
        self.messages: list[str] = []
        self._read_until(lambda: bool(self.messages))

    def read_to_close(self) -> tuple[int | None, str]:
        """Read everything the server sent, up to its close frame: (code, reason)."""
        self._read_until(lambda: self.protocol.close_rcvd is not None)
        close = self.protocol.close_rcvd
        assert close is not None
        return close.code, close.reason

    def close(self) -> None:
        self._sock.close()

    def _read_until(self, done: Callable[[], bool]) -> None:
        while not done():
            data = self._sock.recv(65536)
            if not data:
                self.protocol.receive_eof()
                raise ConnectionError(f"closed without a close frame after {len(self.messages)}")
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    assert event.status_code == 101, event.status_code
                elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    self.messages.append(bytes(event.data).decode())
            self._flush()  # the close reply, pongs

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self._sock.sendall(chunk)


# Events published the way workers publish them, for jobs no worker runs.


def publish(client: redis.Redis, job_id: str, progress: float, **fields: Any) -> None:
    event = {
        "type": "progress",
        "job_id": job_id,
        "status": JobStatus.PROCESSING,
        "stage": JobStage.DOWNLOADING,
        "progress": progress,
        "downloaded_bytes": int(progress * 1000),
        "total_bytes": 100_000,
        "at": dt.datetime.now(dt.UTC),
    }
    events.publish(client, ProgressEvent.model_validate({**event, **fields}))


def completed(client: redis.Redis, job_id: str) -> None:
    publish(client, job_id, 100.0, type="status", status=JobStatus.COMPLETED, stage=None)


async def queued_job(http: httpx.AsyncClient, key: str) -> str:
    job = await submit(http, key, f"https://www.youtube.com/watch?v={STANDARD_VIDEO_ID}")
    return str(job["job_id"])


def socket_url(stack: Stack, job_id: str, after: int | None = None) -> str:
    url = f"{stack.ws_url}/ws/progress/{job_id}"
    return url if after is None else f"{url}?after={after}"
