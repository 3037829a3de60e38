"""Request-scoped dependencies shared by every domain."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.metrics.api import ApiMetrics
from app.storage.base import StorageHandler

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None] | None]


def after_commit(session: AsyncSession, action: AfterCommit) -> None:
    """Run `action` once the request's transaction has committed; dropped on rollback."""
    session.info.setdefault("after_commit", []).append(action)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    async with request.app.state.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        actions: list[AfterCommit] = session.info.pop("after_commit", [])
    for action in actions:
        # The commit already made the change durable; a failed side effect (say, an
        # enqueue while Redis is down) is repaired by the reconciler, not the client.
        try:
            result = action()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("after-commit action failed")


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def get_storage(request: Request) -> StorageHandler:
    storage: StorageHandler = request.app.state.storage
    return storage


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
RedisClient = Annotated[Redis, Depends(get_redis)]
Storage = Annotated[StorageHandler, Depends(get_storage)]
Metrics = Annotated[ApiMetrics, Depends(get_metrics)]
