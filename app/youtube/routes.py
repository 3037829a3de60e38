"""The routes yt-dlp's requests leave by (YTDLP_PROXIES, or YTDLP_PROXY, or none: direct),
each with its own circuit breaker. A route that draws a bot check or HTTP 429 rests for
BREAKER_COOLDOWN_SECONDS while the others carry on; new YouTube work pauses only when every
route rests. The breakers live in Redis, so every worker sees the same ones."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from redis import Redis, RedisError
from redis.asyncio import Redis as AsyncRedis

from app.core.config import DIRECT_ROUTE, Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "yds:breaker:route:"
# The breaker /health/detailed and /metrics have always shown: open while every route rests.
ALL_ROUTES = "youtube"
_REASON_CHARS = 200


@dataclass(frozen=True)
class Route:
    """One way out: `proxy` is the URL with its credentials, None for a direct connection."""

    name: str
    proxy: str | None = field(repr=False)

    @property
    def key(self) -> str:
        # A digest of the whole URL: two accounts on one proxy host are two routes, and no
        # credential ever reaches Redis.
        digest = hashlib.sha256((self.proxy or DIRECT_ROUTE).encode()).hexdigest()[:16]
        return KEY_PREFIX + digest


@dataclass(frozen=True)
class RouteState:
    name: str  # scheme://host:port of the proxy, without credentials, or "direct"
    resting: bool
    retry_in_seconds: int
    reason: str | None


def routes(settings: Settings) -> list[Route]:
    """The configured routes, in order of preference; names are unique."""
    configured = [secret.get_secret_value() for secret in settings.ytdlp_proxies]
    if not configured:
        configured = [settings.ytdlp_proxy.get_secret_value() or DIRECT_ROUTE]
    found: list[Route] = []
    for value in configured:
        proxy = None if value == DIRECT_ROUTE else value
        name = _display_name(proxy)
        taken = sum(1 for route in found if route.name.split(" #")[0] == name)
        found.append(Route(name=f"{name} #{taken + 1}" if taken else name, proxy=proxy))
    return found


def route_urls(settings: Settings) -> list[tuple[str, str | None]]:
    """(name, proxy URL with credentials or None for direct) of every route."""
    return [(route.name, route.proxy) for route in routes(settings)]


def _display_name(proxy: str | None) -> str:
    if proxy is None:
        return DIRECT_ROUTE
    parts = urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def route_states(redis: Redis, settings: Settings) -> list[RouteState]:
    """Every route and whether it rests; without Redis no route rests (no shared pause)."""
    configured = routes(settings)
    pipe = redis.pipeline(transaction=False)
    for route in configured:
        pipe.ttl(route.key)
        pipe.get(route.key)
    try:
        answers = pipe.execute()
    except RedisError:
        answers = []
    return _states(configured, answers)


async def route_states_async(redis: AsyncRedis, settings: Settings) -> list[RouteState]:
    configured = routes(settings)
    pipe = redis.pipeline(transaction=False)
    for route in configured:
        pipe.ttl(route.key)
        pipe.get(route.key)
    try:
        answers = await pipe.execute()
    except RedisError:
        answers = []
    return _states(configured, answers)


def _states(configured: list[Route], answers: Sequence[object]) -> list[RouteState]:
    if len(answers) != 2 * len(configured):
        return [RouteState(route.name, False, 0, None) for route in configured]
    states = []
    for index, route in enumerate(configured):
        ttl, reason = answers[2 * index], answers[2 * index + 1]
        seconds = int(ttl) if isinstance(ttl, int) else 0
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else reason
        resting = seconds > 0
        states.append(
            RouteState(
                name=route.name,
                resting=resting,
                retry_in_seconds=max(seconds, 0),
                reason=str(text) if resting and text is not None else None,
            )
        )
    return states


def all_resting(states: Sequence[RouteState]) -> bool:
    return bool(states) and all(state.resting for state in states)


def earliest_wake(states: Sequence[RouteState]) -> int:
    """Seconds until the first resting route may be used again (0 when one is free)."""
    return min((state.retry_in_seconds for state in states), default=0)


def choose(redis: Redis, settings: Settings) -> Route:
    """The first route that is not resting; when all rest, the one that wakes first."""
    return pick(routes(settings), route_states(redis, settings))


async def choose_async(redis: AsyncRedis, settings: Settings) -> Route:
    return pick(routes(settings), await route_states_async(redis, settings))


def pick(configured: list[Route], states: list[RouteState]) -> Route:
    pairs = list(zip(configured, states, strict=True))
    for route, state in pairs:
        if not state.resting:
            return route
    return min(pairs, key=lambda pair: pair[1].retry_in_seconds)[0]


def rest(redis: Redis, route: Route, *, cooldown_seconds: int, reason: str) -> None:
    """Put `route` to rest: no job is sent through it for `cooldown_seconds`. The first
    sentence of `reason` is kept, for /health/detailed and the doctor to show."""
    summary = _summary(reason)
    try:
        redis.set(route.key, summary, ex=cooldown_seconds)
    except RedisError as exc:
        logger.warning("could not put route %s to rest: %s", route.name, exc)
    _log_rest(route, summary, cooldown_seconds)


async def rest_async(
    redis: AsyncRedis, route: Route, *, cooldown_seconds: int, reason: str
) -> None:
    summary = _summary(reason)
    try:
        await redis.set(route.key, summary, ex=cooldown_seconds)
    except RedisError as exc:
        logger.warning("could not put route %s to rest: %s", route.name, exc)
    _log_rest(route, summary, cooldown_seconds)


def _summary(reason: str) -> str:
    return reason.split(". ")[0][:_REASON_CHARS]


def _log_rest(route: Route, summary: str, cooldown_seconds: int) -> None:
    logger.warning(
        "YouTube throttles route %s (%s); it rests for %d s", route.name, summary, cooldown_seconds
    )
