from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from app.api.dependencies import AppSettings, DbSession, RedisClient, State
from app.auth import service
from app.auth.dependencies import AdminKey, forget_keys_after_commit
from app.auth.exceptions import AUTH_ERRORS, ApiKeyNotFound, ExpiryNotInFuture, InsufficientScope
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyUpdate
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
