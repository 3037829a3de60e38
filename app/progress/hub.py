"""One Redis subscription per API process, fanned out in memory to its progress streams.

The hub holds a single pattern subscription to every job's channel. Each stream watching a
job gets a `Mailbox`: the hub drops each event into the mailboxes of the job's watchers and
never waits for a client, so a slow one cannot hold up the others. A mailbox is bounded: a
stream that falls behind gets a job's progress coalesced to the latest, and one that stays
behind is ended. One clock task keeps time for every stream (quiet spells, stuck sends).
When the subscription fails (Redis down) every mailbox is ended with
`Closing.UNAVAILABLE` and the hub reconnects; until then no stream can start.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from app.api.protocol import text_frame
from app.core.coalesce import Coalescer
from app.jobs.events import EVENTS_PATTERN, ProgressEvent, channel_job_id, decode

logger = logging.getLogger(__name__)

RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5.0
# How long the subscription may stay silent before the hub pings Redis, and how long a ping
# may go unanswered before the connection counts as dead.
IDLE_PING_SECONDS = 10.0
PING_TIMEOUT_SECONDS = 5.0
# How often the clock looks at every mailbox (keep-alives, rechecks and send timeouts are
# this precise): one timer for the process instead of one per stream and send.
STOP_SECONDS = 5.0  # how long stop() waits for each of its steps
CLOCK_SECONDS = 0.5


class Closing(enum.Enum):
    """Why the hub ended a mailbox."""

    UNAVAILABLE = "unavailable"  # the subscription failed: Redis is unreachable
    GOING_AWAY = "going_away"  # the server shuts down
    OVERFLOW = "overflow"  # the stream stayed behind with more than its buffer waiting


@dataclass(frozen=True, slots=True)
class Published:
    """One event as it came from Redis: decoded once, its text (and its WebSocket frame)
    shared by every mailbox."""

    event: ProgressEvent
    text: str
    frame: bytes = b""

    @classmethod
    def of(cls, event: ProgressEvent, text: str) -> Published:
        return cls(event, text, text_frame(text.encode()))


class StreamUnavailable(Exception):
    """The hub has no subscription (Redis down, or the server shutting down)."""

    def __init__(self, closing: Closing) -> None:
        super().__init__(closing.value)
        self.closing = closing


class Mailbox:
    """The events one stream has yet to send, at most `capacity` of them.

    A job's progress event replaces the job's progress still waiting (stage and status
    events are all kept), so a stream that falls behind — a slow client, or a process busy
    with thousands of others — sends the latest state rather than a backlog. When the
    events that may not be dropped fill it, the mailbox ends with OVERFLOW.

    Waits have no timer of their own: the hub's clock wakes a stream whose quiet spell is
    over, and cancels one whose send has waited longer than `send_timeout`.

    A stream may set `express`: while it waits with nothing pending, an event is first
    offered to it, and what it takes (written straight to its client) never wakes the
    stream. `heard` counts every event offered, taken or not.
    """

    __slots__ = (
        "_loop",
        "_pending",
        "_waiter",
        "capacity",
        "closing",
        "express",
        "heard",
        "owner",
        "send_timeout",
        "sending_since",
        "too_slow",
        "wake_at",
    )

    def __init__(self, capacity: int, *, send_timeout: float = math.inf) -> None:
        self.capacity = capacity
        self.closing: Closing | None = None
        self.send_timeout = send_timeout
        # The stream's task, and when its current send began (None: not sending).
        self.owner: asyncio.Task[Any] | None = None
        self.sending_since: float | None = None
        self.too_slow = False
        self.wake_at = math.inf
        self.express: Callable[[Published], bool] | None = None
        self.heard = 0
        self._pending: deque[Published] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, published: Published) -> None:
        if self.closing is not None:
            return
        self.heard += 1
        express = self.express
        waiting = self._waiter is not None and not self._pending
        if express is not None and waiting and express(published):
            return
        if published.event.type == "progress":
            self._drop_progress_of(published.event.job_id)
        if len(self._pending) >= self.capacity:
            self.end(Closing.OVERFLOW)
            return
        self._pending.append(published)
        self._wake()

    def end(self, closing: Closing) -> None:
        if self.closing is None:
            self.closing = closing
            self._pending.clear()  # what is left is not sent: free it now
            self._wake()

    async def take(self, within: float) -> list[Published]:
        """Everything waiting, once something is (an empty list after about `within`
        seconds of silence, or when the mailbox has ended)."""
        if not self._pending and self.closing is None and within > 0:
            self.wake_at = self._loop.time() + within
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self.wake_at = math.inf
        taken = list(self._pending)
        self._pending.clear()
        return taken

    def begin_send(self) -> None:
        """Marks the start of a send to the client, so the clock can tell a stuck one."""
        self.sending_since = self._loop.time()

    def end_send(self) -> None:
        self.sending_since = None

    def tick(self, now: float) -> None:
        """The hub's clock: wake a quiet stream, stop a stuck send."""
        if now >= self.wake_at:
            self._wake()
        since = self.sending_since
        if since is not None and now - since > self.send_timeout and not self.too_slow:
            self.too_slow = True
            if self.owner is not None:
                self.owner.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drop_progress_of(self, job_id: uuid.UUID) -> None:
        for index, waiting in enumerate(self._pending):
            if waiting.event.type == "progress" and waiting.event.job_id == job_id:
                del self._pending[index]
                return  # there is never more than one


class ProgressHub:
    """The process's one subscription to job events and the mailboxes it feeds."""

    def __init__(
        self,
        redis_url: str,
        *,
        capacity: int,
        going_away: asyncio.Event,
        send_timeout: float = math.inf,
    ) -> None:
        # A client of its own, without redis-py's silent retries: a failed subscription must
        # end the streams (their events were lost), not be papered over.
        self._client = Redis.from_url(
            redis_url,
            socket_connect_timeout=3,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            max_connections=2,
        )
        self._capacity = capacity
        self._send_timeout = send_timeout
        self._going_away = going_away
        # Loads shared by this process's streams (snapshots, rechecks).
        self.loads = Coalescer()
        self._watchers: dict[uuid.UUID, set[Mailbox]] = {}
        self._subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    def watchers(self) -> int:
        return sum(len(mailboxes) for mailboxes in self._watchers.values())

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="progress-hub"),
            asyncio.create_task(self._end_on_shutdown(), name="progress-hub-shutdown"),
            asyncio.create_task(self._clock(), name="progress-hub-clock"),
        ]

    async def wait_subscribed(self, within: float) -> bool:
        with suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._subscribed.wait()
        return self.subscribed

    async def stop(self) -> None:
        """Cancel the subscription and the clock, bounded: a Redis connection cancelled in
        the middle of a read can leave its close waiting, and shutdown must not wait with it
        (seen once as a 300 s hang on a loaded machine)."""
        self._stopping = True  # ends the loops even if a cancellation is lost (see Periodic)
        for task in self._tasks:
            task.cancel()
        stuck: set[asyncio.Task[None]] = set()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
        if stuck:
            logger.warning("%d progress task(s) did not stop within %g s", len(stuck), STOP_SECONDS)
        self._end_all(Closing.GOING_AWAY)
        with suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                await self._client.aclose()

    @contextmanager
    def watch(self, job_id: uuid.UUID) -> Iterator[Mailbox]:
        """A mailbox for the job's events for as long as the block runs. Raises
        `StreamUnavailable` when no events could arrive."""
        if self._going_away.is_set():
            raise StreamUnavailable(Closing.GOING_AWAY)
        if not self.subscribed:
            raise StreamUnavailable(Closing.UNAVAILABLE)
        mailbox = Mailbox(self._capacity, send_timeout=self._send_timeout)
        mailbox.owner = asyncio.current_task()
        self._watchers.setdefault(job_id, set()).add(mailbox)
        try:
            yield mailbox
        finally:
            mailboxes = self._watchers.get(job_id)
            if mailboxes is not None:
                mailboxes.discard(mailbox)
                if not mailboxes:
                    del self._watchers[job_id]

    def dispatch(self, channel: str | bytes, data: str | bytes) -> None:
        """Hand one message of a job's channel to the job's watchers."""
        job_id = channel_job_id(channel)
        mailboxes = self._watchers.get(job_id) if job_id is not None else None
        if not mailboxes:
            return  # nobody here watches this job: not even decoded
        try:
            published = Published.of(
                decode(data), data.decode() if isinstance(data, bytes) else data
            )
        except (ValidationError, UnicodeDecodeError):
            logger.warning("ignored a malformed event on %r", channel)
            return
        for mailbox in list(mailboxes):
            mailbox.put(published)

    async def _run(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while not self._stopping:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.psubscribe(EVENTS_PATTERN)
                    await self._confirm(pubsub)
                    logger.info("progress events subscribed")
                    delay = RECONNECT_FIRST_SECONDS
                    await self._relay(pubsub)
            except (RedisError, OSError) as exc:
                if self.subscribed:
                    logger.warning("progress events unavailable, reconnecting: %s", exc)
            self._subscribed.clear()
            self._end_all(Closing.UNAVAILABLE)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _confirm(self, pubsub: PubSub) -> None:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            while True:
                message = await pubsub.get_message(timeout=PING_TIMEOUT_SECONDS)
                if message is not None and message["type"] == "psubscribe":
                    self._subscribed.set()
                    return

    async def _relay(self, pubsub: PubSub) -> None:
        ping_sent: float | None = None
        loop = asyncio.get_running_loop()
        while not self._stopping:
            waiting = PING_TIMEOUT_SECONDS if ping_sent is not None else IDLE_PING_SECONDS
            message = await pubsub.get_message(timeout=waiting)
            if message is None:
                if ping_sent is not None and loop.time() - ping_sent > PING_TIMEOUT_SECONDS:
                    raise ConnectionError("Redis did not answer the subscription's ping")
                if ping_sent is None:
                    await pubsub.ping()
                    ping_sent = loop.time()
                continue
            ping_sent = None  # anything heard proves the connection alive
            if message["type"] == "pmessage":
                self.dispatch(message["channel"], message["data"])

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await asyncio.sleep(CLOCK_SECONDS)
            now = loop.time()
            for mailboxes in list(self._watchers.values()):
                for mailbox in mailboxes:
                    mailbox.tick(now)

    async def _end_on_shutdown(self) -> None:
        await self._going_away.wait()
        self._end_all(Closing.GOING_AWAY)

    def _end_all(self, closing: Closing) -> None:
        for mailboxes in self._watchers.values():
            for mailbox in mailboxes:
                mailbox.end(closing)


def install_hub(app: Starlette, hub: ProgressHub) -> None:
    """Kept beside `AppState` (built by the same lifespan), which sits below the layer that
    knows job events."""
    app.state.progress_hub = hub


def hub_of(connection: HTTPConnection) -> ProgressHub:
    hub: ProgressHub = connection.app.state.progress_hub
    return hub
