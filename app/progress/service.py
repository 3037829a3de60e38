"""One job's progress stream, whatever carries it (a WebSocket, server-sent events).

A stream sends the job's snapshot, then its live events in `seq` order, and ends after a
terminal one. Resuming with the last `seq` seen replays the missed events from the job's
history instead, or sends a fresh snapshot when they are no longer all there. A parent
(playlist, channel, batch) streams its children's events and an aggregate after them.

Live events come from the process's `ProgressHub`; this module only ever waits on its own
client, bounded by the send timeout, so one slow client delays nobody else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.downloads.families import ByteWeights, ChildState, skipped_count
from app.downloads.schemas import JobOut
from app.jobs.events import ProgressEvent, decode, history_key, seq_key, status_event
from app.jobs.models import Job, JobStage, JobStatus
from app.jobs.schemas import ChildCounts, JobError
from app.progress.hub import Closing, Mailbox, ProgressHub, Published, StreamUnavailable
from app.progress.schemas import SnapshotEvent

# Without events for this long, ask the database: a terminal event may have been lost (a
# failed publish) and the client must not wait forever. Doubled after each silent check up
# to the maximum, so a thousand watchers of a job that waits in the queue stay cheap.
RECHECK_SECONDS = 5.0
RECHECK_MAX_SECONDS = 40.0
# What a client is told to wait before reconnecting when events are unavailable: the hub
# retries its subscription at least this often.
RECONNECT_HINT_SECONDS = 5

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408

AGGREGATE_INTERVAL_SECONDS = 0.25

JobLoader = Callable[[], Awaitable[Job | None]]
ChildrenLoader = Callable[[], Awaitable[list[ChildState]]]
Presenter = Callable[[Job], Awaitable[JobOut]]


class Sink(Protocol):
    """Where a stream's messages go."""

    async def send(self, text: str, seq: int | None) -> None:
        """One message; may wait while the client is slow (the stream bounds the wait)."""

    async def idle(self) -> None:
        """Called after each quiet spell (a keep-alive where the protocol needs one)."""


@dataclass(frozen=True)
class Ending:
    """How a stream ended: a WebSocket close code and reason."""

    code: int
    reason: str = ""


@dataclass(frozen=True)
class StreamLimits:
    send_timeout: float
    keepalive: float


@dataclass(frozen=True)
class JobSource:
    """The job's side of a stream: its row, its children and its presentation."""

    job_id: uuid.UUID
    load_job: JobLoader
    load_children: ChildrenLoader
    present: Presenter


NOT_FOUND = Ending(CLOSE_NOT_FOUND, "job not found")


async def stream_job(
    sink: Sink,
    *,
    source: JobSource,
    after: int | None,
    hub: ProgressHub,
    redis: Redis,
    limits: StreamLimits,
) -> Ending:
    """Run one stream to its end. `after` is the last `seq` the client saw, if it resumes."""
    relay = _Relay(sink, limits)
    try:
        with hub.watch(source.job_id) as mailbox:
            return await _stream(relay, mailbox, source=source, after=after, redis=redis)
    except _TooSlow:
        return _ending(Closing.OVERFLOW, relay.seq)
    except StreamUnavailable as unavailable:
        # No live events, but the database still answers: the job as it stands.
        job = await source.load_job()
        if job is None:
            return NOT_FOUND
        snapshot = SnapshotEvent(job=await source.present(job), seq=None)
        await relay.send(snapshot.model_dump_json(), None)
        if job.status.is_terminal:
            return Ending(CLOSE_NORMAL)
        return _ending(unavailable.closing, None)


async def seen_to_the_end(redis: Redis, job: Job, after: int | None) -> bool:
    """Whether a client resuming after `after` has already had the job's every event, the
    terminal one included (so a server-sent events client is told to stop reconnecting)."""
    if after is None or not job.status.is_terminal:
        return False
    try:
        counter = await redis.get(seq_key(job.id))
    except RedisError:
        return False
    return after >= int(counter or 0)


def _ending(closing: Closing, seq: int | None) -> Ending:
    resume = f" with ?after={seq}" if seq is not None else ""
    if closing is Closing.GOING_AWAY:
        return Ending(CLOSE_GOING_AWAY, f"server restarting; reconnect{resume}")
    if closing is Closing.OVERFLOW:
        return Ending(CLOSE_TOO_SLOW, f"client too slow; reconnect{resume}")
    return Ending(
        CLOSE_TRY_AGAIN_LATER,
        f"events unavailable (redis); reconnect in {RECONNECT_HINT_SECONDS} s{resume}",
    )


class _TooSlow(Exception):
    """The client did not take a message within the send timeout."""


class _Relay:
    """The client end of a stream: each send bounded by the send timeout."""

    def __init__(self, sink: Sink, limits: StreamLimits) -> None:
        self.sink = sink
        self.limits = limits
        self.seq = 0  # the last `seq` the client has

    async def send(self, text: str, seq: int | None) -> None:
        try:
            async with asyncio.timeout(self.limits.send_timeout):
                await self.sink.send(text, seq)
        except TimeoutError as exc:
            raise _TooSlow from exc
        if seq is not None:
            self.seq = max(self.seq, seq)

    async def send_event(self, event: ProgressEvent, text: str | None = None) -> None:
        await self.send(text or event.model_dump_json(), event.seq)

    def stamp(self, event: ProgressEvent) -> ProgressEvent:
        """An event made here (an aggregate, a status from the database): it takes the
        position of the last event sent."""
        return event.model_copy(update={"seq": self.seq, "emitted_at": dt.datetime.now(dt.UTC)})


@dataclass(frozen=True)
class _Position:
    """The job's stream in Redis when the client (re)joined it."""

    counter: int
    history: list[Published]

    def missed_since(self, after: int) -> list[Published] | None:
        """The events after `after`, or None when some of them are gone (or `after` is not
        a position of this stream)."""
        if after > self.counter:
            return None
        missed = [published for published in self.history if published.event.seq > after]
        if after == self.counter:
            return []
        if not missed or missed[0].event.seq != after + 1:
            return None
        return missed


async def _position(redis: Redis, job_id: uuid.UUID, *, with_history: bool) -> _Position:
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.get(seq_key(job_id))
            if with_history:
                pipe.lrange(history_key(job_id), 0, -1)
            results = await pipe.execute()
    except (RedisError, OSError) as exc:
        raise StreamUnavailable(Closing.UNAVAILABLE) from exc
    history: list[Published] = []
    for raw in results[1] if with_history else []:
        try:
            history.append(Published(decode(raw), raw.decode()))
        except (ValidationError, UnicodeDecodeError):
            continue
    return _Position(counter=int(results[0] or 0), history=history)


async def _stream(
    relay: _Relay, mailbox: Mailbox, *, source: JobSource, after: int | None, redis: Redis
) -> Ending:
    # The mailbox collects live events from here on; the position read next says which of
    # them the snapshot (or the replay) already covers.
    position = await _position(redis, source.job_id, with_history=after is not None)
    job = await source.load_job()
    if job is None:
        return NOT_FOUND
    missed = None
    if after is not None and not job.status.is_terminal:
        missed = position.missed_since(after)
    if missed is None:
        snapshot = SnapshotEvent(job=await source.present(job), seq=position.counter)
        await relay.send(snapshot.model_dump_json(), position.counter)
        if job.status.is_terminal:
            return Ending(CLOSE_NORMAL)
    else:
        relay.seq = after or 0
    handler: _Handler
    if job.kind.is_parent:
        family = _Family(job, relay, source)
        await family.start()
        handler = family
    else:
        # A resumed client has seen more than the row says: no event of it is dropped.
        handler = _Single(job, relay, source.load_job, resumed=missed is not None)
    for published in missed or []:
        if (ending := await handler.on_event(published)) is not None:
            return ending
    return await _live(mailbox, handler, relay)


async def _live(mailbox: Mailbox, handler: _Handler, relay: _Relay) -> Ending:
    """Relay events in `seq` order until a terminal one, or the mailbox ends."""
    recheck = RECHECK_SECONDS
    quiet_since = time.monotonic()
    while True:
        batch = await mailbox.take(within=min(relay.limits.keepalive, recheck))
        if mailbox.closing is not None:
            return _ending(mailbox.closing, relay.seq)
        if not batch:
            if time.monotonic() - quiet_since >= recheck:
                if (ending := await handler.on_silence()) is not None:
                    return ending
                recheck = min(recheck * 2, RECHECK_MAX_SECONDS)
                quiet_since = time.monotonic()
            await relay.sink.idle()
            continue
        recheck, quiet_since = RECHECK_SECONDS, time.monotonic()
        for published in batch:
            if published.event.seq and published.event.seq <= relay.seq:
                continue  # already covered by the snapshot or the replay
            if (ending := await handler.on_event(published)) is not None:
                return ending


class _Handler(Protocol):
    async def on_event(self, published: Published) -> Ending | None: ...

    async def on_silence(self) -> Ending | None: ...


class _Single:
    """A video's stream: its events, the figure never going back."""

    def __init__(self, job: Job, relay: _Relay, load_job: JobLoader, *, resumed: bool) -> None:
        self.relay = relay
        self.load_job = load_job
        self.progress = 0.0 if resumed else job.progress

    async def on_event(self, published: Published) -> Ending | None:
        event = published.event
        terminal = event.status.is_terminal
        if event.progress < self.progress and not terminal:
            return None  # a late event from before the snapshot
        if event.progress < self.progress:
            clamped = event.model_copy(update={"progress": self.progress})
            await self.relay.send_event(clamped)
        else:
            self.progress = event.progress
            await self.relay.send_event(event, published.text)
        return Ending(CLOSE_NORMAL) if terminal else None

    async def on_silence(self) -> Ending | None:
        return await _recheck(self.relay, self.load_job, None)


async def _recheck(
    relay: _Relay, load_job: JobLoader, final: ProgressEvent | None
) -> Ending | None:
    """Ask the database: a job that ended (its terminal event lost) ends the stream."""
    job = await load_job()
    if job is None:
        return NOT_FOUND  # deleted meanwhile
    if not job.status.is_terminal:
        return None
    await relay.send_event(final or relay.stamp(_status_of(job)))
    return Ending(CLOSE_NORMAL)


class _Family:
    """A parent's stream: its children's events as they come, an aggregate after them
    (throttled), and the parent's own status at the end."""

    def __init__(self, parent: Job, relay: _Relay, source: JobSource) -> None:
        self.parent_id = parent.id
        self.skipped = skipped_count(parent.details)
        self.progress = parent.progress
        self.relay = relay
        self.source = source
        # Each entry's state; its duration only comes from the database (events lack it).
        self._children: dict[uuid.UUID, ChildState] = {}
        self._sent_at = float("-inf")

    async def start(self) -> None:
        await self._refresh()
        await self._send_aggregate(force=True)

    async def on_event(self, published: Published) -> Ending | None:
        event = published.event
        if event.job_id == self.parent_id:
            # The parent's own event (a settle): the database says where the family stands.
            final = event if event.status.is_terminal else None
            if (ending := await _recheck(self.relay, self.source.load_job, final)) is not None:
                return ending
            await self._refresh()
            await self._send_aggregate(force=True)
            return None
        await self.relay.send_event(event, published.text)
        known = self._children.get(event.job_id)
        self._children[event.job_id] = ChildState(
            id=event.job_id,
            status=event.status,
            progress=event.progress,
            total_bytes=event.total_bytes or (known.total_bytes if known else None),
            duration=known.duration if known else None,
        )
        await self._send_aggregate(force=event.status.is_terminal)
        return None

    async def on_silence(self) -> Ending | None:
        if (ending := await _recheck(self.relay, self.source.load_job, None)) is not None:
            return ending
        await self._refresh()
        await self._send_aggregate(force=True)
        return None

    async def _refresh(self) -> None:
        children = await self.source.load_children()
        self._children = {child.id: child for child in children}

    async def _send_aggregate(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._sent_at < AGGREGATE_INTERVAL_SECONDS:
            return
        self._sent_at = now
        statuses = [child.status for child in self._children.values()]
        total = len(statuses)
        # Weighted by bytes, as the settle weighs them for the parent's row.
        weights = ByteWeights()
        for child in self._children.values():
            weights.add(child.status, child.progress, child.total_bytes, child.duration)
        self.progress = max(self.progress, weights.progress if total else 0.0)
        counts = ChildCounts(
            total=total,
            queued=statuses.count(JobStatus.QUEUED),
            processing=statuses.count(JobStatus.PROCESSING),
            completed=statuses.count(JobStatus.COMPLETED) + statuses.count(JobStatus.EXPIRED),
            failed=statuses.count(JobStatus.FAILED),
            canceled=statuses.count(JobStatus.CANCELED),
            skipped=self.skipped,
        )
        aggregate = ProgressEvent(
            type="aggregate",
            job_id=self.parent_id,
            status=JobStatus.PROCESSING,
            stage=JobStage.DOWNLOADING,
            progress=round(self.progress, 1),
            children=counts,
            at=dt.datetime.now(dt.UTC),
        )
        await self.relay.send_event(self.relay.stamp(aggregate))


def _status_of(job: Job) -> ProgressEvent:
    return status_event(
        job.id, job.status, job.progress, JobError.of(job.error_code, job.error_message)
    )
