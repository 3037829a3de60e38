"""Sliding-window request limits per key and per client address, kept in Redis so they
hold across every API process."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass

import redis
import redis.asyncio
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

STATE_KEY = "rate_limit"


@dataclass(frozen=True)
class LimitState:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(self.reset_seconds, 1))
        return headers


class RateLimiter:
    def __init__(
        self, redis_url: str, *, connection_pool: redis.asyncio.ConnectionPool | None = None
    ) -> None:
        storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            key_prefix="yds:ratelimit",
            # Documented by limits, though its annotation of **options leaves pools out.
            connection_pool=connection_pool,  # type: ignore[arg-type]
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, identity: str, per_minute: int) -> LimitState | None:
        """Count one request; None when Redis is unreachable (limits then fail open)."""
        item = RateLimitItemPerMinute(per_minute)
        try:
            allowed = await self._limiter.hit(item, identity)
            stats = await self._limiter.get_window_stats(item, identity)
        except (redis.RedisError, OSError) as exc:
            logger.warning("rate limiting unavailable: %s", exc)
            return None
        reset = max(math.ceil(stats.reset_time - time.time()), 0)
        return LimitState(allowed, per_minute, stats.remaining, reset)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The client's address: X-Forwarded-For is believed only when the peer is a trusted
    proxy, and then read from the right, skipping the trusted proxies themselves."""
    networks = [ipaddress.ip_network(network, strict=False) for network in trusted]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not peer or not forwarded_for or not is_trusted(peer):
        return peer or "unknown"
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


def note_limit(state: dict[str, object], limit: LimitState) -> None:
    """Keep the tighter of the per-address and per-key limits for the response headers."""
    current = state.get(STATE_KEY)
    if not isinstance(current, LimitState) or limit.remaining <= current.remaining:
        state[STATE_KEY] = limit
