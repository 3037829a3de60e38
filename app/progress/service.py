"""One job's progress stream, whatever carries it (a WebSocket, server-sent events).

A stream sends the job's snapshot, then its live events in `seq` order, and ends after a
terminal one. Resuming with the last `seq` seen replays the missed events from the job's
history instead, or sends a fresh snapshot when they are no longer all there. A parent
(playlist, channel, batch) streams its children's events and an aggregate after them.

Live events come from the process's `ProgressHub`; this module only ever waits on its own
client, bounded by the send timeout, so one slow client delays nobody else. What streams of
one job read from the database and Redis (the snapshot, rechecks, a family's entries) is
loaded once for all of them that ask at the same time (`Coalescer`), so a thousand clients
connecting at once cost a handful of queries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
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
RECHECK_FRESH_SECONDS = 1.0
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
History = tuple[bytes | str, ...]


class Sink(Protocol):
    """Where a stream's messages go."""

    async def send(self, text: str, seq: int | None) -> None:
        """One message; may wait while the client is slow (the stream bounds the wait)."""

    async def idle(self) -> None:
        """Called after each quiet spell (a keep-alive where the protocol needs one)."""

    def express(self, frame: bytes) -> bool:
        """Write a WebSocket text frame at once if the client takes it without waiting
        (False: not possible now, or not on this transport)."""


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
    """The job's side of a stream: its row, its children and its presentation. Streams
    with the same `viewer` (the key, and the address files are linked under) share loads."""

    job_id: uuid.UUID
    viewer: Hashable
    load_job: JobLoader
    load_children: ChildrenLoader
    present: Presenter


@dataclass(frozen=True, slots=True)
class JobState:
    """What a stream needs of the job's row (not the row: a stream may live for hours)."""

    status: JobStatus
    progress: float
    error: JobError | None

    @classmethod
    def of(cls, job: Job) -> JobState:
        return cls(job.status, job.progress, JobError.of(job.error_code, job.error_message))


@dataclass(frozen=True)
class Snapshot:
    """The job as a stream starts: its state, its snapshot message, and where its events
    stood in Redis before the row was read."""

    state: JobState
    is_parent: bool
    skipped: int
    text: str
    position: _Position


class _Loads:
    """A stream's reads, each shared with the process's other streams of the same job and
    viewer that ask at the same time."""

    def __init__(self, source: JobSource, hub: ProgressHub, redis: Redis) -> None:
        self.source = source
        self.coalescer = hub.loads
        self.redis = redis
        self.key = (source.job_id, source.viewer)

    async def snapshot(self, *, with_history: bool) -> Snapshot | None:
        return await self.coalescer.load(
            ("snapshot", with_history, *self.key), lambda: self._snapshot(with_history)
        )

    async def presented(self) -> tuple[JobState, str] | None:
        """The job's state and snapshot message without a stream position (Redis down)."""
        return await self.coalescer.load(("presented", *self.key), self._presented)

    async def state(self) -> JobState | None:
        """For rechecks, which only need to be about current: a second-old answer will do."""
        return await self.coalescer.load(
            ("state", *self.key), self._state, fresh_within=RECHECK_FRESH_SECONDS
        )

    async def children(self) -> list[ChildState]:
        return await self.coalescer.load(("children", *self.key), self.source.load_children)

    async def _snapshot(self, with_history: bool) -> Snapshot | None:
        # The position first: events after it reach the mailboxes registered before it.
        position = await _position(self.redis, self.source.job_id, with_history=with_history)
        job = await self.source.load_job()
        if job is None:
            return None
        message = SnapshotEvent(job=await self.source.present(job), seq=position.counter)
        return Snapshot(
            state=JobState.of(job),
            is_parent=job.kind.is_parent,
            skipped=skipped_count(job.details),
            text=message.model_dump_json(),
            position=position,
        )

    async def _presented(self) -> tuple[JobState, str] | None:
        job = await self.source.load_job()
        if job is None:
            return None
        message = SnapshotEvent(job=await self.source.present(job), seq=None)
        return JobState.of(job), message.model_dump_json()

    async def _state(self) -> JobState | None:
        job = await self.source.load_job()
        return JobState.of(job) if job is not None else None


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
    loads = _Loads(source, hub, redis)
    try:
        with hub.watch(source.job_id) as mailbox:
            relay.mailbox = mailbox
            try:
                started = await _start(relay, loads, after=after)
                if isinstance(started, Ending):
                    return started
                return await _live(mailbox, started, relay)
            except asyncio.CancelledError:
                if not mailbox.too_slow:
                    raise
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                raise _TooSlow from None
    except _TooSlow:
        return _ending(Closing.OVERFLOW, relay.seq)
    except StreamUnavailable as unavailable:
        # No live events, but the database still answers: the job as it stands.
        relay.mailbox = None  # no longer watched: its sends have their own timeout
        presented = await loads.presented()
        if presented is None:
            return NOT_FOUND
        state, text = presented
        await relay.send(text, None)
        if state.status.is_terminal:
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
        # While the stream watches its job, the hub's clock bounds each send.
        self.mailbox: Mailbox | None = None

    async def send(self, text: str, seq: int | None) -> None:
        mailbox = self.mailbox
        if mailbox is not None:
            mailbox.begin_send()
            try:
                await self.sink.send(text, seq)
            finally:
                mailbox.end_send()
        else:
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
    """The job's stream in Redis when the client (re)joined it (its history as stored:
    decoded only for a client that resumes)."""

    counter: int
    history: History

    def missed_since(self, after: int) -> list[Published] | None:
        """The events after `after`, or None when some of them are gone (or `after` is not
        a position of this stream)."""
        if after > self.counter:
            return None
        if after == self.counter:
            return []
        missed = [published for published in _decoded(self.history) if published.event.seq > after]
        if not missed or missed[0].event.seq != after + 1:
            return None
        return missed


def _decoded(history: History) -> list[Published]:
    decoded = []
    for raw in history:
        try:
            text = raw.decode() if isinstance(raw, bytes) else raw
            decoded.append(Published.of(decode(text), text))
        except (ValidationError, UnicodeDecodeError):
            continue
    return decoded


async def _position(redis: Redis, job_id: uuid.UUID, *, with_history: bool) -> _Position:
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.get(seq_key(job_id))
            if with_history:
                pipe.lrange(history_key(job_id), 0, -1)
            results = await pipe.execute()
    except (RedisError, OSError) as exc:
        raise StreamUnavailable(Closing.UNAVAILABLE) from exc
    history: History = tuple(results[1]) if with_history else ()
    return _Position(counter=int(results[0] or 0), history=history)


async def _start(relay: _Relay, loads: _Loads, *, after: int | None) -> _Handler | Ending:
    """Send the snapshot (or replay what a resuming client missed): the handler of the live
    events that follow, or how the stream ends already."""
    # The mailbox collects live events from here on; the position read with the snapshot
    # says which of them the snapshot (or the replay) already covers.
    snapshot = await loads.snapshot(with_history=after is not None)
    if snapshot is None:
        return NOT_FOUND
    missed = None
    if after is not None and not snapshot.state.status.is_terminal:
        missed = snapshot.position.missed_since(after)
    if missed is None:
        await relay.send(snapshot.text, snapshot.position.counter)
        if snapshot.state.status.is_terminal:
            return Ending(CLOSE_NORMAL)
    else:
        relay.seq = after or 0
    handler: _Handler
    if snapshot.is_parent:
        family = _Family(loads, snapshot, relay)
        await family.start()
        handler = family
    else:
        # A resumed client has seen more than the row says: no event of it is dropped.
        progress = 0.0 if missed is not None else snapshot.state.progress
        handler = _Single(relay, loads, progress)
    for published in missed or []:
        if (ending := await handler.on_event(published)) is not None:
            return ending
    return handler


async def _live(mailbox: Mailbox, handler: _Handler, relay: _Relay) -> Ending:
    """Relay events in `seq` order until a terminal one, or the mailbox ends."""
    recheck = RECHECK_SECONDS
    quiet_since = time.monotonic()
    heard = mailbox.heard
    mailbox.express = handler.express
    while True:
        batch = await mailbox.take(within=min(relay.limits.keepalive, recheck))
        if mailbox.closing is not None:
            return _ending(mailbox.closing, relay.seq)
        if batch or mailbox.heard != heard:  # events came (some by the express lane)
            recheck, quiet_since, heard = RECHECK_SECONDS, time.monotonic(), mailbox.heard
        if not batch:
            if time.monotonic() - quiet_since >= recheck:
                if (ending := await handler.on_silence()) is not None:
                    return ending
                recheck = min(recheck * 2, RECHECK_MAX_SECONDS)
                quiet_since = time.monotonic()
            await relay.sink.idle()
            continue
        for published in batch:
            if published.event.seq and published.event.seq <= relay.seq:
                continue  # already covered by the snapshot or the replay
            if (ending := await handler.on_event(published)) is not None:
                return ending


class _Handler(Protocol):
    async def on_event(self, published: Published) -> Ending | None: ...

    def express(self, published: Published) -> bool: ...

    async def on_silence(self) -> Ending | None: ...


class _Single:
    """A video's stream: its events, the figure never going back."""

    __slots__ = ("loads", "progress", "relay")

    def __init__(self, relay: _Relay, loads: _Loads, progress: float) -> None:
        self.relay = relay
        self.loads = loads
        self.progress = progress

    async def on_event(self, published: Published) -> Ending | None:
        event = published.event
        terminal = event.status.is_terminal
        if event.progress >= self.progress:
            self.progress = event.progress
            await self.relay.send_event(event, published.text)
        elif event.type == "progress" and not terminal:
            return None  # a late progress event from before the snapshot
        else:
            # A stage or status event is never dropped; its figure never goes back.
            await self.relay.send_event(event.model_copy(update={"progress": self.progress}))
        return Ending(CLOSE_NORMAL) if terminal else None

    def express(self, published: Published) -> bool:
        """A plain progress event, written straight to the client (see `Mailbox`)."""
        event, relay = published.event, self.relay
        if (
            event.type != "progress"
            or event.status.is_terminal
            or event.progress < self.progress
            or event.seq <= relay.seq
            or not relay.sink.express(published.frame)
        ):
            return False
        self.progress = event.progress
        relay.seq = event.seq
        return True

    async def on_silence(self) -> Ending | None:
        return await _recheck(self.relay, self.loads, None)


async def _recheck(relay: _Relay, loads: _Loads, final: ProgressEvent | None) -> Ending | None:
    """Ask the database: a job that ended (its terminal event lost) ends the stream."""
    state = await loads.state()
    if state is None:
        return NOT_FOUND  # deleted meanwhile
    if not state.status.is_terminal:
        return None
    await relay.send_event(final or relay.stamp(_status_of(loads.source.job_id, state)))
    return Ending(CLOSE_NORMAL)


class _Family:
    """A parent's stream: its children's events as they come, an aggregate after them
    (throttled), and the parent's own status at the end."""

    def __init__(self, loads: _Loads, snapshot: Snapshot, relay: _Relay) -> None:
        self.parent_id = loads.source.job_id
        self.skipped = snapshot.skipped
        self.progress = snapshot.state.progress
        self.relay = relay
        self.loads = loads
        # Each entry's state; its duration only comes from the database (events lack it).
        self._children: dict[uuid.UUID, ChildState] = {}
        self._sent_at = float("-inf")
        self._paused = snapshot.state.status is JobStatus.PAUSED

    async def start(self) -> None:
        await self._refresh()
        await self._send_aggregate(force=True)

    async def on_event(self, published: Published) -> Ending | None:
        event = published.event
        if event.job_id == self.parent_id:
            # The parent's own event (a settle): the database says where the family stands.
            final = event if event.status.is_terminal else None
            if (ending := await _recheck(self.relay, self.loads, final)) is not None:
                return ending
            if event.type == "status" and self._paused != (event.status is JobStatus.PAUSED):
                # The family paused, or resumed: its own status event says so.
                self._paused = event.status is JobStatus.PAUSED
                await self.relay.send_event(event, published.text)
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

    def express(self, published: Published) -> bool:
        return False  # each entry's event is followed by an aggregate: the stream sends both

    async def on_silence(self) -> Ending | None:
        if (ending := await _recheck(self.relay, self.loads, None)) is not None:
            return ending
        await self._refresh()
        await self._send_aggregate(force=True)
        return None

    async def _refresh(self) -> None:
        children = await self.loads.children()
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
            paused=statuses.count(JobStatus.PAUSED),
            skipped=self.skipped,
        )
        aggregate = ProgressEvent(
            type="aggregate",
            job_id=self.parent_id,
            status=JobStatus.PAUSED if self._paused else JobStatus.PROCESSING,
            stage=JobStage.DOWNLOADING,
            progress=round(self.progress, 1),
            children=counts,
            at=dt.datetime.now(dt.UTC),
        )
        await self.relay.send_event(self.relay.stamp(aggregate))


def _status_of(job_id: uuid.UUID, state: JobState) -> ProgressEvent:
    return status_event(job_id, state.status, state.progress, state.error)
