"""What the API process holds for its lifetime, built once by the lifespan (`app.main`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from app.api.ratelimit import RateLimiter
from app.api.usage import UsageBuffer
from app.core.broker import RedisTaskSender
from app.core.config import Settings
from app.core.disk import FreeDiskGauge
from app.core.expiring import ExpiringCache
from app.metrics.api import ApiMetrics
from app.storage.base import StorageHandler

WORKERS_SEEN_SECONDS = 2.0


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Requests and the start of progress streams: a pool that waits for a free connection
    # (REDIS_MAX_CONNECTIONS, REDIS_POOL_TIMEOUT_SECONDS) rather than failing.
    redis: Redis
    # For the side effects the API shares with the workers (sync code, run in threads).
    sync_redis: SyncRedis
    storage: StorageHandler
    # The server secret API keys are HMACed with (and webhook secrets derived from).
    key_secret: bytes
    rate_limiter: RateLimiter
    metrics: ApiMetrics
    key_usage: UsageBuffer
    # /health/detailed, /metrics and the metrics flush: a database engine and a Redis pool of
    # their own (REDIS_OPS_MAX_CONNECTIONS), so load on the others never makes the instance
    # look unhealthy to its load balancer.
    ops_engine: AsyncEngine
    ops_sessions: async_sessionmaker[AsyncSession]
    ops_redis: Redis
    # Keys found in the last API_KEY_CACHE_SECONDS, by their HMAC (`app.auth.dependencies`).
    key_cache: ExpiringCache[str, Any]
    # Free disk, measured every FREE_DISK_CHECK_SECONDS rather than on every request.
    free_disk: FreeDiskGauge
    # Task messages straight onto a Redis broker from the event loop; None with SQS (then
    # kombu's own client sends them, in a thread).
    task_sender: RedisTaskSender | None
    # Set on shutdown: live WebSockets close with 1001 so clients reconnect elsewhere.
    going_away: asyncio.Event = field(default_factory=asyncio.Event)
    # Whether a worker is alive, as seen in the last few seconds: otherwise a Redis scan per
    # queued job presented. (A worker that dies shows after its presence key's TTL anyway.)
    workers_seen: ExpiringCache[str, bool] = field(
        default_factory=lambda: ExpiringCache(WORKERS_SEEN_SECONDS)
    )


def install_state(app: FastAPI, state: AppState) -> None:
    app.state.resources = state


def app_state(connection: HTTPConnection) -> AppState:
    """The process's state, for a request or a WebSocket."""
    return state_of(connection.app)


def state_of(app: FastAPI) -> AppState:
    state: AppState = app.state.resources
    return state


def has_state(app: FastAPI) -> bool:
    """False before the lifespan has started (or when it failed)."""
    return isinstance(getattr(app.state, "resources", None), AppState)
