"""Request-scoped dependencies shared by every router, as `Annotated` aliases."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.state import AppState, app_state
from app.core.config import Settings
from app.core.database import take_after_commit
from app.metrics.api import ApiMetrics
from app.storage.base import StorageHandler

logger = logging.getLogger(__name__)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent; then the actions
    the request registered with `after_commit` run (dropped on rollback)."""
    async with app_state(request).sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        actions = take_after_commit(session)
    for action in actions:
        # The commit already made the change durable; a failed side effect (say, an
        # enqueue while Redis is down) is repaired by the reconciler, not the client.
        try:
            if inspect.iscoroutinefunction(action):
                await action()
            else:
                # Side effects are sync code (shared with the workers) that may block.
                await anyio.to_thread.run_sync(action)
        except Exception:
            logger.exception("after-commit action failed")


# Async, though they only read attributes: FastAPI runs a plain `def` dependency in a
# worker thread, a thread hop per dependency and request.
async def get_state(request: Request) -> AppState:
    return app_state(request)


async def get_app_settings(request: Request) -> Settings:
    return app_state(request).settings


async def get_redis(request: Request) -> Redis:
    return app_state(request).redis


async def get_metrics(request: Request) -> ApiMetrics:
    return app_state(request).metrics


async def get_storage(request: Request) -> StorageHandler:
    return app_state(request).storage


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
State = Annotated[AppState, Depends(get_state)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
RedisClient = Annotated[Redis, Depends(get_redis)]
Storage = Annotated[StorageHandler, Depends(get_storage)]
Metrics = Annotated[ApiMetrics, Depends(get_metrics)]
