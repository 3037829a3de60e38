"""A coroutine run every few seconds for the life of the API process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)
FINAL_RUN_SECONDS = 1.0


class Periodic:
    def __init__(self, interval: float, action: Callable[[], Awaitable[None]]) -> None:
        self.interval = interval
        self.action = action
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.action()
            except Exception:
                logger.exception("periodic task failed")

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop, then run the action once more, bounded so shutdown never hangs on it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FINAL_RUN_SECONDS):
                await self.action()
