from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from app.api.dependencies import AppSettings, DbSession, RedisClient, State
from app.auth import service, sessions
from app.auth.dependencies import (
    BROWSER_SESSION,
    AdminKey,
    CurrentKey,
    authenticate,
    finder,
    forget_keys_after_commit,
    session_ttl,
)
from app.auth.exceptions import AUTH_ERRORS, ApiKeyNotFound, ExpiryNotInFuture, InsufficientScope
from app.auth.models import ApiKey
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyUpdate,
    SessionCreate,
    SessionOut,
)
from app.auth.usage import pending_usage
from app.core.errors import error_responses
from app.security.exceptions import ForbiddenAddressError
from app.security.service import check_address

router = APIRouter(prefix="/api/v1/admin/api-keys", tags=["admin"])
ERRORS = error_responses(*AUTH_ERRORS, InsufficientScope)


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    responses={**ERRORS, **error_responses(ForbiddenAddressError, ExpiryNotInFuture)},
)
async def create_api_key(
    body: ApiKeyCreate,
    state: State,
    session: DbSession,
    settings: AppSettings,
    _admin: AdminKey,
) -> ApiKeyCreated:
    """Create a key; the response is the only time its secret is shown."""
    if body.webhook_url is not None:
        await check_address(body.webhook_url, settings)
    issued = await session.run_sync(
        service.issue_key,
        name=body.name,
        server_secret=state.key_secret,
        scopes=[scope.value for scope in body.scopes],
        expires_at=body.expires_at,
        limits=service.KeyLimits(
            rate_limit_per_minute=body.rate_limit_per_minute,
            max_active_jobs=body.max_active_jobs,
            max_jobs_per_day=body.max_jobs_per_day,
        ),
        webhook_url=body.webhook_url,
    )
    listed = ApiKeyOut.model_validate(issued.api_key)
    return ApiKeyCreated(**listed.model_dump(), key=issued.secret)


@router.get("", response_model=list[ApiKeyOut], responses=ERRORS)
async def list_api_keys(
    state: State, session: DbSession, redis: RedisClient, _admin: AdminKey
) -> list[ApiKeyOut]:
    """Every key, without secrets; usage includes the last few seconds' requests."""
    await state.key_usage.flush()  # this process's latest requests count too
    pending = await pending_usage(redis)
    listed = []
    for api_key in await session.run_sync(service.list_keys):
        out = ApiKeyOut.model_validate(api_key)
        if api_key.id in pending:
            count, last_used = pending[api_key.id]
            out = out.model_copy(
                update={"usage_count": out.usage_count + count, "last_used_at": last_used}
            )
        listed.append(out)
    return listed


@router.patch(
    "/{key_id}",
    response_model=ApiKeyOut,
    responses={**ERRORS, **error_responses(ApiKeyNotFound, ForbiddenAddressError)},
)
async def update_api_key(
    key_id: uuid.UUID,
    body: ApiKeyUpdate,
    session: DbSession,
    state: State,
    settings: AppSettings,
    _admin: AdminKey,
) -> ApiKeyOut:
    """Change a key's default webhook URL."""
    if body.webhook_url is not None:
        await check_address(body.webhook_url, settings)
    api_key = await session.run_sync(service.set_webhook_url, key_id, body.webhook_url)
    forget_keys_after_commit(session, state)
    return ApiKeyOut.model_validate(api_key)


@router.delete(
    "/{key_id}",
    status_code=204,
    responses={**ERRORS, **error_responses(ApiKeyNotFound)},
)
async def revoke_api_key(
    key_id: uuid.UUID, session: DbSession, state: State, _admin: AdminKey
) -> Response:
    """Revoke a key at once; its requests get 401 api_key_revoked from now on (from other
    API processes within API_KEY_CACHE_SECONDS)."""
    await session.run_sync(service.revoke_key, key_id)
    forget_keys_after_commit(session, state)
    return Response(status_code=204)


session_router = APIRouter(prefix="/api/v1/session", tags=["session"])


def _session_out(api_key: ApiKey, csrf_token: str | None) -> SessionOut:
    return SessionOut(
        name=api_key.name,
        key_prefix=api_key.key_prefix,
        scopes=list(api_key.scopes),
        csrf_token=csrf_token,
        expires_at=api_key.expires_at,
    )


@session_router.post("", response_model=SessionOut, responses=error_responses(*AUTH_ERRORS))
async def sign_in(
    body: SessionCreate,
    request: Request,
    response: Response,
    state: State,
    session: DbSession,
    settings: AppSettings,
) -> SessionOut:
    """Exchange an API key for a browser session: an HttpOnly, SameSite=Strict cookie that
    lasts until the browser closes or UI_SESSION_HOURS pass without a request. Requests it
    authenticates that change something must send the returned `csrf_token` as
    `X-CSRF-Token`. The key is not stored, and never appears in a URL or a log."""
    api_key = await authenticate(request, settings, body.api_key, finder(session, state))
    opened = await sessions.open_session(state.redis, api_key.id, ttl_seconds=session_ttl(settings))
    response.set_cookie(
        sessions.COOKIE_NAME,
        opened.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return _session_out(api_key, opened.csrf_token)


@session_router.get("", response_model=SessionOut, responses=error_responses(*AUTH_ERRORS))
async def current_session(request: Request, response: Response, api_key: CurrentKey) -> SessionOut:
    """Who the cookie (or the API key header) signs in, with the session's CSRF token."""
    response.headers["Cache-Control"] = "no-store"
    browser = request.scope.get("state", {}).get(BROWSER_SESSION)
    return _session_out(api_key, browser.csrf_token if browser else None)


@session_router.delete("", status_code=204)
async def sign_out(request: Request, redis: RedisClient) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared (also when the
    session had already ended)."""
    await sessions.close_session(redis, request.cookies.get(sessions.COOKIE_NAME, ""))
    response = Response(status_code=204)
    response.delete_cookie(
        sessions.COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
