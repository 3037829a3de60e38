"""`/api/v1/subscriptions`: follow channels and playlists; each check is a family job."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from app.api.dependencies import DbSession, State
from app.auth.dependencies import ReadKey, WriteKey
from app.auth.exceptions import AUTH_ERRORS as KEY_ERRORS
from app.auth.exceptions import InsufficientScope
from app.core.errors import error_responses
from app.security.exceptions import ForbiddenAddressError
from app.subscriptions import service
from app.subscriptions.dependencies import ReadableSubscription, WritableSubscription
from app.subscriptions.exceptions import (
    InvalidPattern,
    InvalidSubscriptionUrl,
    SubscriptionNotFound,
)
from app.subscriptions.schemas import (
    CheckStarted,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionUpdate,
)

router = APIRouter(tags=["subscriptions"])
SUBSCRIPTIONS = "/api/v1/subscriptions"
ONE = f"{SUBSCRIPTIONS}/{{subscription_id}}"
AUTH_ERRORS = (*KEY_ERRORS, InsufficientScope)


@router.post(
    SUBSCRIPTIONS,
    status_code=201,
    response_model=SubscriptionOut,
    responses=error_responses(
        InvalidSubscriptionUrl, InvalidPattern, ForbiddenAddressError, *AUTH_ERRORS
    ),
    summary="Follow a channel (or one of its tabs) or a playlist",
)
async def create_subscription(
    body: SubscriptionCreate, session: DbSession, api_key: WriteKey, state: State
) -> SubscriptionOut:
    subscription = await service.create(session, api_key=api_key, body=body, state=state)
    return (await service.present(session, [subscription]))[0]


@router.get(
    SUBSCRIPTIONS,
    response_model=SubscriptionPage,
    responses=error_responses(*AUTH_ERRORS),
    summary="List the key's subscriptions",
)
async def list_subscriptions(
    session: DbSession,
    api_key: ReadKey,
    limit: int = Query(default=20, ge=1, le=100),
    offset: int = Query(default=0, ge=0, le=1_000_000_000),
) -> SubscriptionPage:
    subscriptions, total = await service.list_page(
        session, api_key=api_key, limit=limit, offset=offset
    )
    items = await service.present(session, subscriptions)
    return SubscriptionPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    ONE,
    response_model=SubscriptionOut,
    responses=error_responses(SubscriptionNotFound, *AUTH_ERRORS),
    summary="Get a subscription: its state, last and next check, counts",
)
async def get_subscription(
    subscription: ReadableSubscription, session: DbSession
) -> SubscriptionOut:
    return (await service.present(session, [subscription]))[0]


@router.patch(
    ONE,
    response_model=SubscriptionOut,
    responses=error_responses(SubscriptionNotFound, InvalidPattern, *AUTH_ERRORS),
    summary="Change a subscription (name, options, filters, interval, paused, keep_last)",
)
async def update_subscription(
    body: SubscriptionUpdate, subscription: WritableSubscription, session: DbSession, state: State
) -> SubscriptionOut:
    updated = await service.update(session, subscription=subscription, body=body, state=state)
    return (await service.present(session, [updated]))[0]


@router.delete(
    ONE,
    status_code=204,
    responses=error_responses(SubscriptionNotFound, *AUTH_ERRORS),
    summary="Stop following (its downloads stay)",
)
async def delete_subscription(subscription: WritableSubscription, session: DbSession) -> Response:
    await service.remove(session, subscription=subscription)
    return Response(status_code=204)


@router.post(
    f"{ONE}/check",
    status_code=202,
    response_model=CheckStarted,
    responses=error_responses(SubscriptionNotFound, *AUTH_ERRORS),
    summary="Check now (never two checks at once: a running check's job is returned)",
)
async def check_subscription(
    subscription: WritableSubscription, session: DbSession, state: State
) -> CheckStarted:
    started = await service.check_now(session, subscription=subscription, state=state)
    return CheckStarted(job_id=started.job_id, started=started.started)
