from __future__ import annotations

from fastapi import APIRouter

from app.api.dependencies import AppSettings, DbSession, State
from app.auth.dependencies import ReadKey, WriteKey, forget_keys_after_commit
from app.auth.exceptions import AUTH_ERRORS as KEY_ERRORS
from app.auth.exceptions import InsufficientScope
from app.core.errors import error_responses
from app.jobs.dependencies import ReadableJob
from app.jobs.exceptions import JobNotFound
from app.security.exceptions import ForbiddenAddressError
from app.webhooks import service
from app.webhooks.schemas import WebhookDeliveryOut, WebhookSettings, WebhookSettingsUpdate

router = APIRouter(tags=["webhooks"])
AUTH_ERRORS = (*KEY_ERRORS, InsufficientScope)


@router.get(
    "/api/v1/webhooks",
    response_model=WebhookSettings,
    responses=error_responses(*AUTH_ERRORS),
    summary="The calling key's webhook settings and signing secret",
)
async def get_webhook_settings(state: State, api_key: ReadKey) -> WebhookSettings:
    return service.describe(api_key, server_secret=state.key_secret)


@router.put(
    "/api/v1/webhooks",
    response_model=WebhookSettings,
    responses=error_responses(ForbiddenAddressError, *AUTH_ERRORS),
    summary="Set or clear the calling key's default webhook URL",
)
async def put_webhook_settings(
    body: WebhookSettingsUpdate,
    state: State,
    session: DbSession,
    api_key: WriteKey,
    settings: AppSettings,
) -> WebhookSettings:
    updated = await service.set_default_url(
        session, api_key=api_key, url=body.default_url, settings=settings
    )
    forget_keys_after_commit(session, state)  # the key's cached row has the old URL
    return service.describe(updated, server_secret=state.key_secret)


@router.get(
    "/api/v1/downloads/{job_id}/webhooks",
    response_model=list[WebhookDeliveryOut],
    responses=error_responses(JobNotFound, *AUTH_ERRORS),
    summary="A job's webhook delivery attempts, oldest first",
)
async def list_job_deliveries(job: ReadableJob, session: DbSession) -> list[WebhookDeliveryOut]:
    deliveries = await service.list_deliveries(session, job)
    return [WebhookDeliveryOut.model_validate(delivery) for delivery in deliveries]
