"""A coroutine run every few seconds for the life of the API process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)
FINAL_RUN_SECONDS = 1.0
STOP_SECONDS = 5.0


class Periodic:
    def __init__(self, interval: float, action: Callable[[], Awaitable[None]]) -> None:
        self.interval = interval
        self.action = action
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def _loop(self) -> None:
        # The flag, not only the cancellation, ends the loop: on Python 3.11 a cancellation
        # that meets a timeout inside the action (a Redis read timing out under load) comes
        # out as that timeout, which the action handles, and the loop would go on forever.
        while not self._stopping:
            await asyncio.sleep(self.interval)
            if self._stopping:
                return
            try:
                await self.action()
            except Exception:
                logger.exception("periodic task failed")

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop, then run the action once more, bounded so shutdown never hangs on it."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            _, pending = await asyncio.wait({self._task}, timeout=STOP_SECONDS)
            if pending:
                logger.warning("a periodic task did not stop within %g s", STOP_SECONDS)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FINAL_RUN_SECONDS):
                await self.action()
