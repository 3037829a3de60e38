"""Shared loads: many concurrent asks for the same thing, one query.

When a thousand clients ask for the same row at once (a reconnect storm, a thousand
progress streams on one job), each would hold a database connection for the same answer.
`Coalescer.load` runs one load per key at a time and hands its result to every caller that
asked before it started; a caller that asks while a load is already running waits for the
next one, so nobody gets an answer read before they asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Coalescer:
    """Per-key shared loads. An exception of a load is raised to each of its callers."""

    def __init__(self) -> None:
        # A key's next load, still gathering callers; and the one reading now.
        self._gathering: dict[Hashable, asyncio.Future[Any]] = {}
        self._running: dict[Hashable, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        future = self._gathering.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._gathering[key] = future
            task = asyncio.create_task(self._run(key, future, load))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A caller that leaves (its client went away) does not cancel the others' load.
        result: T = await asyncio.shield(future)
        return result

    def pending(self) -> int:
        return len(self._gathering) + len(self._running)

    async def _run(
        self, key: Hashable, future: asyncio.Future[Any], load: Callable[[], Awaitable[Any]]
    ) -> None:
        before = self._running.get(key)
        if before is not None:
            await asyncio.wait([before])
        # From here on, callers gather for the next load: this one may read before they asked.
        del self._gathering[key]
        self._running[key] = future
        try:
            future.set_result(await load())
        except asyncio.CancelledError:  # the server shuts down
            future.cancel()
            raise
        except Exception as exc:  # each caller gets it
            future.set_exception(exc)
            future.exception()  # retrieved: callers that all left must not log it as lost
        finally:
            if self._running.get(key) is future:
                del self._running[key]
