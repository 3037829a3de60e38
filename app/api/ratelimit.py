"""Sliding-window request limits per key and per client address, kept in Redis so they
hold across every API process."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
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


# For each identity in turn, KEYS: its window's counter, its previous window's; ARGV: the
# share of the previous window still inside the sliding window (0..1), the window's length
# in seconds, then each identity's limit. Returns {allowed, remaining} per identity, up to
# the first one refused: a request counts against an identity only when it is allowed by it
# and by every identity before it. The previous window's weighted count is rounded up: just
# after a boundary its requests are all still inside the window, and rounding down would
# forget one of them (a fourth request allowed within a second under a limit of 3).
_HIT_SCRIPT = """
local share = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local results = {}
for i = 1, #KEYS / 2 do
  local limit = tonumber(ARGV[i + 2])
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local used = math.ceil(previous * share) + current
  if used >= limit then
    table.insert(results, 0)
    table.insert(results, 0)
    return results
  end
  if redis.call('INCR', KEYS[2 * i - 1]) == 1 then
    redis.call('EXPIRE', KEYS[2 * i - 1], 2 * window)
  end
  table.insert(results, 1)
  table.insert(results, limit - used - 1)
end
return results
"""


class RateLimiter:
    """A sliding window per identity: this minute's count plus the previous minute's,
    weighted by how much of it the window still covers. One Redis round trip a request,
    whatever the number of identities it is counted against."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        window_seconds: int = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self._client = client
        self._window = window_seconds
        self._clock = clock
        self._hit = client.register_script(_HIT_SCRIPT)

    async def hit_all(self, limits: list[tuple[str, int]]) -> list[LimitState]:
        """Count one request against each (identity, per-minute limit) in order, stopping
        at the first that refuses it (the last state returned). Empty when Redis is
        unreachable (limits then fail open)."""
        now = self._clock()
        index, into = divmod(now, self._window)
        keys = [
            f"{KEY_PREFIX}:{identity}:{window}"
            for identity, _ in limits
            for window in (int(index), int(index) - 1)
        ]
        previous_share = 1 - into / self._window
        args: list[str | int] = [f"{previous_share:.6f}", self._window]
        args += [limit for _, limit in limits]
        try:
            flat = await self._hit(keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            logger.warning("rate limiting unavailable: %s", exc)
            return []
        reset = max(math.ceil(self._window - into), 1)
        return [
            LimitState(bool(flat[2 * i]), limits[i][1], int(flat[2 * i + 1]), reset)
            for i in range(len(flat) // 2)
        ]

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
