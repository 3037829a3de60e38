"""Streams one job to a WebSocket: snapshot first, then live events, close after a terminal one.
A parent (playlist, channel, batch) streams its children's events and an aggregate."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
from fastapi import WebSocket
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from app.downloads.families import ChildState, skipped_count
from app.downloads.schemas import JobOut
from app.jobs.events import ProgressEvent, decode, events_channel, status_event
from app.jobs.models import Job, JobStage, JobStatus
from app.jobs.schemas import ChildCounts, JobError
from app.progress.schemas import SnapshotEvent

POLL_SECONDS = 1.0
# Without events for this long, ask the database: a terminal event may have been lost
# (Redis restarted, a reconciler ended the job) and the client must not wait forever.
RECHECK_SECONDS = 5.0
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

AGGREGATE_INTERVAL_SECONDS = 0.25

JobLoader = Callable[[], Awaitable[Job | None]]
ChildrenLoader = Callable[[], Awaitable[list[ChildState]]]
Presenter = Callable[[Job], Awaitable[JobOut]]


async def stream_job(
    websocket: WebSocket,
    *,
    job_id: uuid.UUID,
    redis: Redis,
    load_job: JobLoader,
    load_children: ChildrenLoader,
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
        await websocket.send_text(SnapshotEvent(job=await present(job)).model_dump_json())
        if job.status.is_terminal:
            await websocket.close(code=CLOSE_NORMAL)
            return
        disconnected = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_disconnect, websocket, disconnected, group.cancel_scope)
            if job.kind.is_parent:
                family = _Family(job, load_children)
                await family.refresh()
                close_code = await _forward_family(websocket, pubsub, family, load_job, going_away)
            else:
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


class _Family:
    """A parent's children as its stream last saw them, for the aggregate events."""

    def __init__(self, parent: Job, load_children: ChildrenLoader) -> None:
        self.parent_id = parent.id
        self.skipped = skipped_count(parent.details)
        self.progress = parent.progress
        self._load = load_children
        self._children: dict[uuid.UUID, tuple[JobStatus, float]] = {}
        self._sent_at = float("-inf")

    async def refresh(self) -> None:
        self._children = {child.id: (child.status, child.progress) for child in await self._load()}

    def update(self, event: ProgressEvent) -> None:
        self._children[event.job_id] = (event.status, event.progress)

    def aggregate(self, *, force: bool = False) -> ProgressEvent | None:
        now = time.monotonic()
        if not force and now - self._sent_at < AGGREGATE_INTERVAL_SECONDS:
            return None
        self._sent_at = now
        statuses = [status for status, _ in self._children.values()]
        total = len(statuses)
        done = sum(100.0 if status.is_terminal else progress
                   for status, progress in self._children.values())  # fmt: skip
        self.progress = max(self.progress, done / total if total else 0.0)
        counts = ChildCounts(
            total=total,
            queued=statuses.count(JobStatus.QUEUED),
            processing=statuses.count(JobStatus.PROCESSING),
            completed=statuses.count(JobStatus.COMPLETED) + statuses.count(JobStatus.EXPIRED),
            failed=statuses.count(JobStatus.FAILED),
            canceled=statuses.count(JobStatus.CANCELED),
            skipped=self.skipped,
        )
        return ProgressEvent(
            type="aggregate",
            job_id=self.parent_id,
            status=JobStatus.PROCESSING,
            stage=JobStage.DOWNLOADING,
            progress=round(self.progress, 1),
            children=counts,
            at=dt.datetime.now(dt.UTC),
        )


async def _forward_family(
    websocket: WebSocket,
    pubsub: PubSub,
    family: _Family,
    load_job: JobLoader,
    going_away: asyncio.Event,
) -> int:
    """A parent's stream: its children's events as they come, an aggregate after them
    (throttled), and the parent's own status at the end."""
    last_event = time.monotonic()
    if (first := family.aggregate(force=True)) is not None:
        await websocket.send_text(first.model_dump_json())
    while True:
        if going_away.is_set():
            return CLOSE_GOING_AWAY
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
        if message is None and time.monotonic() - last_event < RECHECK_SECONDS:
            continue
        last_event = time.monotonic()
        event = decode(message["data"]) if message is not None else None
        if event is None or event.job_id == family.parent_id:
            # The parent's own event (a settle), or silence: ask the database.
            job = await load_job()
            if job is None:
                return CLOSE_NOT_FOUND
            if job.status.is_terminal:
                final = event if event is not None and event.status.is_terminal else None
                await websocket.send_text((final or _status_of(job)).model_dump_json())
                return CLOSE_NORMAL
            await family.refresh()
            aggregate = family.aggregate(force=True)
        else:
            await websocket.send_text(event.model_dump_json())
            family.update(event)
            aggregate = family.aggregate(force=event.status.is_terminal)
        if aggregate is not None:
            await websocket.send_text(aggregate.model_dump_json())


def _status_of(job: Job) -> ProgressEvent:
    return status_event(
        job.id, job.status, job.progress, JobError.of(job.error_code, job.error_message)
    )


async def _watch_disconnect(
    websocket: WebSocket, disconnected: anyio.Event, scope: anyio.CancelScope
) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            disconnected.set()
            scope.cancel()
            return
