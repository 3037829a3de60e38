"""Key usage is counted without a database write per request, then moved to the rows."""

from __future__ import annotations

import httpx
import redis
from fastapi import FastAPI
from sqlalchemy import select

from app.api.state import state_of
from app.auth.models import ApiKey
from app.auth.usage import sync_usage
from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from tests.support.factories import create_key


async def test_usage_reaches_the_key_row_through_redis(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    issued = create_key(settings.database_url)
    engine = create_sync_engine(settings.database_url)
    sessions = sync_sessionmaker(engine)
    try:
        for _ in range(3):
            response = await client.get("/api/v1/downloads", headers={"X-API-Key": issued.secret})
            assert response.status_code == 200
        with session_scope(sessions) as session:
            row = session.scalar(select(ApiKey).where(ApiKey.id == issued.api_key.id))
            assert row is not None and row.usage_count == 0, "no write per request"

        await state_of(app).key_usage.flush()
        assert sync_usage(redis.Redis.from_url(settings.redis_url), sessions) >= 1

        with session_scope(sessions) as session:
            row = session.scalar(select(ApiKey).where(ApiKey.id == issued.api_key.id))
            assert row is not None and row.usage_count == 3 and row.last_used_at is not None
    finally:
        engine.dispose()
