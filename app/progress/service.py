"""Streams one job to a WebSocket: snapshot first, then live events, close after a terminal one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
from fastapi import WebSocket
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from app.downloads.models import Job
from app.downloads.schemas import JobError, JobOut
from app.progress.channels import decode, events_channel
from app.progress.schemas import ProgressEvent, SnapshotEvent, status_event

POLL_SECONDS = 1.0
# Without events for this long, ask the database: a terminal event may have been lost
# (Redis restarted, a reconciler ended the job) and the client must not wait forever.
RECHECK_SECONDS = 5.0
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

JobLoader = Callable[[], Awaitable[Job | None]]
Presenter = Callable[[Job], JobOut]


async def stream_job(
    websocket: WebSocket,
    *,
    job_id: uuid.UUID,
    redis: Redis,
    load_job: JobLoader,
    present: Presenter,
    going_away: asyncio.Event,
) -> None:
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(events_channel(job_id))
        # Load after subscribing, so no event falls between the snapshot and the stream.
        job = await load_job()
        if job is None:
            await websocket.close(code=CLOSE_NOT_FOUND, reason="job not found")
            return
        await websocket.send_text(SnapshotEvent(job=present(job)).model_dump_json())
        if job.status.is_terminal:
            await websocket.close(code=CLOSE_NORMAL)
            return
        disconnected = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_disconnect, websocket, disconnected, group.cancel_scope)
            close_code = await _forward(websocket, pubsub, job.progress, load_job, going_away)
            group.cancel_scope.cancel()
    if not disconnected.is_set():
        await websocket.close(code=close_code)


async def _forward(
    websocket: WebSocket,
    pubsub: PubSub,
    progress: float,
    load_job: JobLoader,
    going_away: asyncio.Event,
) -> int:
    """Relay events until a terminal one (or the server shuts down); returns the close code."""
    last_event = time.monotonic()
    while True:
        if going_away.is_set():
            return CLOSE_GOING_AWAY
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
        if message is None:
            if time.monotonic() - last_event < RECHECK_SECONDS:
                continue
            last_event = time.monotonic()
            job = await load_job()
            if job is None:
                return CLOSE_NOT_FOUND  # deleted meanwhile
            if job.status.is_terminal:
                await websocket.send_text(_status_of(job).model_dump_json())
                return CLOSE_NORMAL
            continue
        last_event = time.monotonic()
        event = decode(message["data"])
        if event.progress < progress and not event.status.is_terminal:
            continue  # a late event from before the snapshot; the figure never goes back
        progress = max(progress, event.progress)
        await websocket.send_text(event.model_copy(update={"progress": progress}).model_dump_json())
        if event.status.is_terminal:
            return CLOSE_NORMAL


def _status_of(job: Job) -> ProgressEvent:
    error = (
        JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None
    )
    return status_event(job.id, job.status, job.progress, error)


async def _watch_disconnect(
    websocket: WebSocket, disconnected: anyio.Event, scope: anyio.CancelScope
) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            disconnected.set()
            scope.cancel()
            return
