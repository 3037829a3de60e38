"""Rules of the webhooks API: a key's default URL and secret, a job's delivery attempts.
No HTTP here, and no commits (the request's session commits)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as key_service
from app.auth.models import ApiKey
from app.core.config import Settings
from app.jobs.models import Job
from app.security.service import check_address
from app.webhooks import repository
from app.webhooks.models import WebhookDelivery
from app.webhooks.schemas import WebhookSettings
from app.webhooks.signing import webhook_secret


def describe(api_key: ApiKey, *, server_secret: bytes) -> WebhookSettings:
    return WebhookSettings(
        default_url=api_key.webhook_url, secret=webhook_secret(server_secret, api_key.id)
    )


async def set_default_url(
    session: AsyncSession, *, api_key: ApiKey, url: str | None, settings: Settings
) -> ApiKey:
    if url is not None:
        # Deliveries check the address again, so a name that changes its answers gains nothing.
        await check_address(url, settings)
    updated: ApiKey = await session.run_sync(key_service.set_webhook_url, api_key.id, url)
    return updated


async def list_deliveries(session: AsyncSession, job: Job) -> Sequence[WebhookDelivery]:
    return await session.run_sync(repository.list_deliveries, job.id)
