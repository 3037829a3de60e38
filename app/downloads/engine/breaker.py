"""A circuit breaker for YouTube: when it answers HTTP 429 or a bot check, new YouTube work
pauses for BREAKER_COOLDOWN_SECONDS instead of hammering it. Shared by every worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
import redis.asyncio

logger = logging.getLogger(__name__)

KEY = "yds:breaker:youtube"
NAME = "youtube"


@dataclass(frozen=True)
class BreakerState:
    open: bool
    retry_in_seconds: int


def trip(client: redis.Redis, cooldown_seconds: int, reason: str) -> None:
    try:
        client.set(KEY, reason[:200], ex=cooldown_seconds)
    except redis.RedisError as exc:
        logger.warning("could not open the circuit breaker: %s", exc)
    logger.warning("YouTube throttles us (%s); pausing new work for %d s", reason, cooldown_seconds)


def state(client: redis.Redis) -> BreakerState:
    try:
        ttl = int(client.ttl(KEY))
    except redis.RedisError:
        return BreakerState(open=False, retry_in_seconds=0)  # no Redis: no shared pause
    return BreakerState(open=ttl > 0, retry_in_seconds=max(ttl, 0))


async def state_async(client: redis.asyncio.Redis) -> BreakerState:
    try:
        ttl = int(await client.ttl(KEY))
    except redis.RedisError:
        return BreakerState(open=False, retry_in_seconds=0)
    return BreakerState(open=ttl > 0, retry_in_seconds=max(ttl, 0))
