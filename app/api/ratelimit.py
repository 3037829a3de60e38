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

logger = logging.getLogger(__name__)

STATE_KEY = "rate_limit"
KEY_PREFIX = "yds:ratelimit"
WINDOW_SECONDS = 60


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


# KEYS: this window's counter, the previous window's. ARGV: the limit, the share of the
# previous window still inside the sliding window (0..1), the window's length in seconds.
# Returns {allowed, remaining}: the request counts only when allowed.
_HIT_SCRIPT = """
local limit = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local used = math.floor(previous * tonumber(ARGV[2])) + current
if used >= limit then
  return {0, 0}
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
end
return {1, limit - used - 1}
"""


class RateLimiter:
    """A sliding window per identity: this minute's count plus the previous minute's,
    weighted by how much of it the window still covers. One Redis round trip a hit."""

    def __init__(self, client: redis.asyncio.Redis, *, window_seconds: int = WINDOW_SECONDS):
        self._client = client
        self._window = window_seconds
        self._hit = client.register_script(_HIT_SCRIPT)

    async def hit(self, identity: str, per_minute: int) -> LimitState | None:
        """Count one request; None when Redis is unreachable (limits then fail open)."""
        now = time.time()
        index, into = divmod(now, self._window)
        keys = [
            f"{KEY_PREFIX}:{identity}:{int(index)}",
            f"{KEY_PREFIX}:{identity}:{int(index) - 1}",
        ]
        previous_share = 1 - into / self._window
        try:
            allowed, remaining = await self._hit(
                keys=keys, args=[per_minute, f"{previous_share:.6f}", self._window]
            )
        except (redis.RedisError, OSError) as exc:
            logger.warning("rate limiting unavailable: %s", exc)
            return None
        reset = max(math.ceil(self._window - into), 1)
        return LimitState(bool(allowed), per_minute, int(remaining), reset)

    async def aclose(self) -> None:
        await self._client.aclose()


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
