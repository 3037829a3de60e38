"""Recording metrics (workers synchronously, the API through a buffer); `render` shows
them in Prometheus' text format. Knows series, not what they count: callers say what
happened."""

from __future__ import annotations

import logging
from collections import defaultdict

import redis
import redis.asyncio

from app.metrics import definitions as m
from app.metrics.store import (
    LIVE_GAUGE_TTL_SECONDS,
    Labels,
    add_all,
    counter_key,
    encode_labels,
    histogram_fields,
    histogram_key,
    live_gauge_key,
)

logger = logging.getLogger(__name__)


class Increments:
    """Counter and histogram increments collected before one round trip to Redis."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = defaultdict(float)

    def count(self, series: m.Series, labels: Labels | None = None, amount: float = 1) -> None:
        if amount:
            self.values[(counter_key(series.name), encode_labels(labels or {}))] += amount

    def observe(self, series: m.Series, value: float, labels: Labels | None = None) -> None:
        for field, amount in histogram_fields(labels or {}, value, series.buckets).items():
            self.values[(histogram_key(series.name), field)] += amount

    def take(self) -> dict[tuple[str, str], float]:
        taken, self.values = dict(self.values), defaultdict(float)
        return taken

    def flush(self, client: redis.Redis) -> None:
        """Best effort: metrics never fail the work they describe."""
        taken = self.take()
        if not taken:
            return
        try:
            pipe = client.pipeline(transaction=False)
            add_all(pipe, taken)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not record metrics: %s", exc)

    async def flush_async(self, client: redis.asyncio.Redis) -> None:
        taken = self.take()
        if not taken:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                add_all(pipe, taken)
                await pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not record metrics: %s", exc)


async def publish_live_gauge(
    client: redis.asyncio.Redis, series: m.Series, instance: str, value: float
) -> None:
    """This process's share of a gauge; it expires with the process."""
    try:
        await client.set(live_gauge_key(series.name, instance), value, ex=LIVE_GAUGE_TTL_SECONDS)
    except redis.RedisError as exc:
        logger.warning("could not record metrics: %s", exc)
