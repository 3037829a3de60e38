"""`ReadableSubscription` and `WritableSubscription`: the subscription in the path, if the
calling key made it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.dependencies import DbSession
from app.auth.dependencies import ReadKey, WriteKey
from app.auth.models import ApiKey
from app.subscriptions import repository
from app.subscriptions.exceptions import SubscriptionNotFound
from app.subscriptions.models import Subscription


async def _owned(
    session: AsyncSession, subscription_id: uuid.UUID, api_key: ApiKey
) -> Subscription:
    """Any other key gets the same 404 as a missing id."""
    subscription = await session.run_sync(repository.get_owned, subscription_id, api_key.id)
    if subscription is None:
        raise SubscriptionNotFound()
    return subscription


async def readable_subscription(
    subscription_id: uuid.UUID, session: DbSession, api_key: ReadKey
) -> Subscription:
    return await _owned(session, subscription_id, api_key)


async def writable_subscription(
    subscription_id: uuid.UUID, session: DbSession, api_key: WriteKey
) -> Subscription:
    return await _owned(session, subscription_id, api_key)


ReadableSubscription = Annotated[Subscription, Depends(readable_subscription, scope="function")]
WritableSubscription = Annotated[Subscription, Depends(writable_subscription, scope="function")]
