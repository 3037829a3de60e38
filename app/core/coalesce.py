"""Shared loads: many concurrent asks for the same thing, one query.

When a thousand clients ask for the same row at once (a reconnect storm, a thousand
progress streams on one job), each would hold a database connection for the same answer.
`Coalescer.load` runs one load per key at a time and hands its result to every caller that
asked before it started; a caller that asks while a load is already running waits for the
next one, so nobody gets an answer read before they asked — unless they say how old an
answer may be (`fresh_within`), for checks that only need to be roughly current.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
# Answers are kept this long at most for callers that accept an older one.
KEEP_SECONDS = 60.0


class Coalescer:
    """Per-key shared loads. An exception of a load is raised to each of its callers."""

    def __init__(self) -> None:
        # A key's next load, still gathering callers; and the one reading now.
        self._gathering: dict[Hashable, asyncio.Future[Any]] = {}
        self._running: dict[Hashable, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Each key's last answer, with when its load started reading.
        self._recent: dict[Hashable, tuple[float, Any]] = {}
        self._sweep_above = 1024

    async def load(
        self, key: Hashable, load: Callable[[], Awaitable[T]], *, fresh_within: float = 0.0
    ) -> T:
        """`load()`'s answer, shared; with `fresh_within`, an answer read at most that many
        seconds ago will do."""
        if fresh_within > 0 and (recent := self._recent.get(key)) is not None:
            read_at, answer = recent
            if asyncio.get_running_loop().time() - read_at <= fresh_within:
                kept: T = answer
                return kept
        future = self._gathering.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._gathering[key] = future
            task = asyncio.create_task(self._run(key, future, load, keep=fresh_within > 0))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A caller that leaves (its client went away) does not cancel the others' load.
        result: T = await asyncio.shield(future)
        return result

    def pending(self) -> int:
        return len(self._gathering) + len(self._running)

    async def _run(
        self,
        key: Hashable,
        future: asyncio.Future[Any],
        load: Callable[[], Awaitable[Any]],
        *,
        keep: bool,
    ) -> None:
        before = self._running.get(key)
        if before is not None:
            await asyncio.wait([before])
        # From here on, callers gather for the next load: this one may read before they asked.
        del self._gathering[key]
        self._running[key] = future
        loop = asyncio.get_running_loop()
        read_at = loop.time()
        try:
            answer = await load()
            future.set_result(answer)
            if keep:
                self._keep(key, read_at, answer, now=loop.time())
        except asyncio.CancelledError:  # the server shuts down
            future.cancel()
            raise
        except Exception as exc:  # each caller gets it
            future.set_exception(exc)
            future.exception()  # retrieved: callers that all left must not log it as lost
        finally:
            if self._running.get(key) is future:
                del self._running[key]

    def _keep(self, key: Hashable, read_at: float, answer: Any, *, now: float) -> None:
        self._recent[key] = (read_at, answer)
        if len(self._recent) > self._sweep_above:
            self._recent = {
                kept: entry
                for kept, entry in self._recent.items()
                if now - entry[0] <= KEEP_SECONDS
            }
            self._sweep_above = max(1024, 2 * len(self._recent))
