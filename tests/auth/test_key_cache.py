"""Keys found once are reused for API_KEY_CACHE_SECONDS: a key revoked through the API stops
at once in that process, one revoked elsewhere (the CLI, another API process) within the
cache's time."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import update

from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from tests.support.factories import create_key

READ, WRITE, ADMIN = "downloads:read", "downloads:write", "admin"
LIST = "/api/v1/downloads"
POLL_SECONDS = 0.05


@asynccontextmanager
async def api_client(settings: Settings, cache_seconds: float) -> AsyncIterator[httpx.AsyncClient]:
    from app.main import create_app

    # Polling a key's fate sends many requests: the rate limits are not what is tested.
    update = {
        "api_key_cache_seconds": cache_seconds,
        "rate_limit_per_minute": 1_000_000,
        "rate_limit_per_ip_per_minute": 1_000_000,
    }
    app = create_app(settings.model_copy(update=update))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def revoke_elsewhere(database_url: str, key: ApiKey) -> None:
    """Revoke as another process would: straight in the database."""
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            statement = update(ApiKey).where(ApiKey.id == key.id)
            session.execute(statement.values(revoked_at=dt.datetime.now(dt.UTC)))
    finally:
        engine.dispose()


async def error_code(client: httpx.AsyncClient, secret: str) -> str | None:
    """None when the key opens the door, else why not."""
    response = await client.get(LIST, headers={"X-API-Key": secret})
    return None if response.status_code == 200 else str(response.json()["error"]["code"])


async def test_a_key_revoked_through_the_api_stops_at_once(
    settings: Settings, database_url: str
) -> None:
    admin = create_key(database_url, "admin", scopes=[READ, WRITE, ADMIN])
    user = create_key(database_url, "user", scopes=[READ, WRITE])
    async with api_client(settings, cache_seconds=300) as client:
        assert await error_code(client, user.secret) is None  # now in the cache
        revoked = await client.delete(
            f"/api/v1/admin/api-keys/{user.api_key.id}", headers={"X-API-Key": admin.secret}
        )
        assert revoked.status_code == 204
        assert await error_code(client, user.secret) == "api_key_revoked"


async def test_a_key_revoked_elsewhere_stops_within_the_cache_time(
    settings: Settings, database_url: str
) -> None:
    cache_seconds = 2.0
    user = create_key(database_url, "user", scopes=[READ, WRITE])
    async with api_client(settings, cache_seconds) as client:
        looked_up = time.monotonic()
        assert await error_code(client, user.secret) is None
        cached_by = time.monotonic()  # the key's entry expires by cached_by + cache_seconds
        revoke_elsewhere(database_url, user.api_key)
        polls: list[tuple[float, float, str | None]] = []  # started, ended, error code
        while not polls or polls[-1][2] is None:
            started = time.monotonic()
            code = await error_code(client, user.secret)
            polls.append((started, time.monotonic(), code))
            assert started - cached_by < cache_seconds + 60, "the revoked key is never refused"
            await asyncio.sleep(POLL_SECONDS)
    # Refused once the cached entry expired: no request that began after that got in,
    # however slow the machine (timings bound what is asserted, not the other way round).
    assert polls[-1][2] == "api_key_revoked"
    served = [started for started, _, code in polls if code is None]
    assert all(started < cached_by + cache_seconds for started in served), polls
    # Served from the cache before that: the first request, when it ended in time.
    _, ended, first = polls[0]
    if ended < looked_up + cache_seconds:
        assert first is None, "a key found moments ago is not looked up again"


async def test_without_a_cache_a_key_revoked_elsewhere_stops_at_once(
    settings: Settings, database_url: str
) -> None:
    user = create_key(database_url, "user", scopes=[READ, WRITE])
    async with api_client(settings, cache_seconds=0) as client:
        assert await error_code(client, user.secret) is None
        revoke_elsewhere(database_url, user.api_key)
        assert await error_code(client, user.secret) == "api_key_revoked"


async def test_an_expired_key_is_refused_even_from_the_cache(
    settings: Settings, database_url: str
) -> None:
    async with api_client(settings, cache_seconds=300) as client:
        # The key must be used, and so cached, before it expires: on a machine too slow to
        # do that within 2 s, with a fresh key again.
        for _ in range(5):
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
            user = create_key(database_url, "user", scopes=[READ, WRITE], expires_at=soon)
            first = await error_code(client, user.secret)
            if dt.datetime.now(dt.UTC) < soon:
                break
        else:
            pytest.fail("could not use a key within 2 s of making it, five times")
        assert first is None
        while True:
            started = dt.datetime.now(dt.UTC)
            if (code := await error_code(client, user.secret)) is not None:
                break
            # Served from the cache only until it expires, however slow the machine.
            assert started < soon, "an expired key got in from the cache"
            await asyncio.sleep(POLL_SECONDS)
    assert code == "api_key_expired"
