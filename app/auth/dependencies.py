from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from app.api.dependencies import DbSession
from app.api.ratelimit import client_ip, note_limit
from app.api.state import AppState, app_state
from app.auth import keys, repository, service, sessions
from app.auth.exceptions import (
    CsrfFailed,
    InsufficientScope,
    MissingApiKey,
    RateLimited,
    SessionExpired,
)
from app.auth.models import ApiKey, Scope
from app.core.config import Settings
from app.core.database import after_commit


async def _limit(connection: HTTPConnection, *limits: tuple[str, int]) -> None:
    """Count the request against each (identity, per-minute limit), in one round trip."""
    states = await app_state(connection).rate_limiter.hit_all(list(limits))
    for state in states:
        note_limit(connection.scope.setdefault("state", {}), state)
        if not state.allowed:
            raise RateLimited(
                f"Rate limit of {state.limit} requests a minute exceeded; retry in "
                f"{state.reset_seconds} s.",
                headers=state.headers(),
            )


def connection_ip(connection: HTTPConnection, settings: Settings) -> str:
    peer = connection.client.host if connection.client else None
    return client_ip(peer, connection.headers.get("x-forwarded-for"), settings.trusted_proxies)


KeyFinder = Callable[[str], Awaitable[ApiKey]]


def finder(session: AsyncSession, state: AppState) -> KeyFinder:
    """Looks a secret's key up (raising why it does not open the door): in the process's
    cache of keys found in the last API_KEY_CACHE_SECONDS, else in the session."""

    async def find(secret: str) -> ApiKey:
        cached = _cached_key(state, secret)
        if cached is not None:
            return service.still_valid(cached)
        digest = keys.digest(secret, state.key_secret)
        found: ApiKey = await session.run_sync(_load_detached, secret, state.key_secret)
        state.key_cache.put(digest, found)
        return found

    return find


def _load_detached(session: Session, secret: str, server_secret: bytes) -> ApiKey:
    # Detached, so that requests sharing the cached row never touch another's session
    # (whose rollback would expire it).
    api_key = service.authenticate(session, secret, server_secret)
    session.expunge(api_key)
    return api_key


def forget_keys_after_commit(session: AsyncSession, state: AppState) -> None:
    """A key changed by this request (revoked, new webhook) is looked up afresh once the
    change is committed, in this process at once, in the others within the cache's time."""

    async def forget() -> None:
        state.key_cache.clear()

    after_commit(session, forget)


KeyLoader = Callable[[uuid.UUID], Awaitable[ApiKey]]


def loader(session: AsyncSession) -> KeyLoader:
    """Loads a browser session's key by its id (raising why it no longer opens the door)."""

    async def load(key_id: uuid.UUID) -> ApiKey:
        found: ApiKey = await session.run_sync(_load_by_id, key_id)
        return found

    return load


def _load_by_id(session: Session, key_id: uuid.UUID) -> ApiKey:
    api_key = repository.by_id(session, key_id)
    if api_key is None:
        raise SessionExpired()
    service.still_valid(api_key)
    session.expunge(api_key)
    return api_key


def session_ttl(settings: Settings) -> int:
    return max(60, int(settings.ui_session_hours * 3600))


async def authenticate_connection(
    connection: HTTPConnection, settings: Settings, find: KeyFinder, load: KeyLoader
) -> ApiKey:
    """The caller's key: by the API key header (or, on a WebSocket, the query parameter),
    else by the web UI's session cookie, whose unsafe requests must carry the CSRF token."""
    secret = connection.headers.get(settings.api_key_header)
    if secret is None and connection.scope["type"] == "websocket":
        secret = connection.query_params.get("api_key")
    token = connection.cookies.get(sessions.COOKIE_NAME)
    if secret or not token:
        return await authenticate(connection, settings, secret, find)
    await _limit(connection, _address_limit(connection, settings))
    state = app_state(connection)
    browser = await sessions.find_session(state.redis, token, ttl_seconds=session_ttl(settings))
    if browser is None:
        raise SessionExpired()
    method = connection.scope.get("method", "GET")
    if method not in sessions.SAFE_METHODS and not sessions.csrf_matches(
        browser, connection.headers.get(sessions.CSRF_HEADER)
    ):
        raise CsrfFailed()
    api_key = await load(browser.api_key_id)
    await _limit(connection, _key_limit(api_key, settings))
    connection.scope.setdefault("state", {})[BROWSER_SESSION] = browser
    state.key_usage.record(api_key.id)
    return api_key


# Where a request authenticated by the session cookie keeps its session (request.state).
BROWSER_SESSION = "browser_session"


def _address_limit(connection: HTTPConnection, settings: Settings) -> tuple[str, int]:
    return (f"ip:{connection_ip(connection, settings)}", settings.rate_limit_per_ip_per_minute)


async def authenticate(
    connection: HTTPConnection, settings: Settings, secret: str | None, find: KeyFinder
) -> ApiKey:
    """The caller's key, within the per-address and per-key rate limits (HTTP and WebSocket)."""
    # The address limit comes first so that guessing keys is throttled as well; a key found
    # in the cache is counted in the same round trip.
    state = app_state(connection)
    address = _address_limit(connection, settings)
    known = _cached_key(state, secret) if secret else None
    if known is None:
        await _limit(connection, address)
        if not secret:
            raise MissingApiKey(f"An API key is required in the {settings.api_key_header} header.")
        api_key = await find(secret)
        await _limit(connection, _key_limit(api_key, settings))
    else:
        await _limit(connection, address, _key_limit(known, settings))
        api_key = service.still_valid(known)
    state.key_usage.record(api_key.id)
    return api_key


def _key_limit(api_key: ApiKey, settings: Settings) -> tuple[str, int]:
    return f"key:{api_key.id}", api_key.rate_limit_per_minute or settings.rate_limit_per_minute


def _cached_key(state: AppState, secret: str) -> ApiKey | None:
    cached: ApiKey | None = state.key_cache.get(keys.digest(secret, state.key_secret))
    return cached


def require_scope(api_key: ApiKey, scope: Scope) -> None:
    if not api_key.has_scope(scope):
        raise InsufficientScope(f"This operation needs the {scope.value!r} scope.")


async def require_key(request: Request, session: DbSession) -> ApiKey:
    # The settings come from the state, not a dependency: each one is solved per request.
    state = app_state(request)
    return await authenticate_connection(
        request, state.settings, finder(session, state), loader(session)
    )


CurrentKey = Annotated[ApiKey, Depends(require_key, scope="function")]


def scoped(scope: Scope) -> Any:
    async def check(api_key: CurrentKey) -> ApiKey:
        require_scope(api_key, scope)
        return api_key

    return Depends(check, scope="function")


ReadKey = Annotated[ApiKey, scoped(Scope.DOWNLOADS_READ)]
WriteKey = Annotated[ApiKey, scoped(Scope.DOWNLOADS_WRITE)]
AdminKey = Annotated[ApiKey, scoped(Scope.ADMIN)]
