"""Per-key request counts without a database write per request: the API counts in memory
and flushes to a Redis hash every few seconds; housekeeping moves the totals onto the key
rows (`app.auth.usage`)."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict

import redis
import redis.asyncio

from app.core.periodic import Periodic

logger = logging.getLogger(__name__)

USAGE_KEY = "yds:key-usage"
FLUSH_SECONDS = 2.0


class UsageBuffer:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.counts: dict[uuid.UUID, int] = defaultdict(int)
        self.last_used: dict[uuid.UUID, float] = {}
        self._periodic = Periodic(FLUSH_SECONDS, self.flush)

    def record(self, key_id: uuid.UUID) -> None:
        self.counts[key_id] += 1
        self.last_used[key_id] = time.time()

    async def flush(self) -> None:
        counts, self.counts = self.counts, defaultdict(int)
        last_used, self.last_used = self.last_used, {}
        if not counts:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key_id, count in counts.items():
                    pipe.hincrby(USAGE_KEY, f"{key_id}:count", count)
                    pipe.hset(USAGE_KEY, f"{key_id}:last", last_used[key_id])
                await pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not record key usage: %s", exc)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
