from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.auth.dependencies import WriteKey
from app.auth.exceptions import AUTH_ERRORS as KEY_ERRORS
from app.auth.exceptions import InsufficientScope, QuotaExceeded
from app.core.dependencies import AppSettings, DbSession, Metrics
from app.core.errors import ErrorResponse, error_responses
from app.downloads import service
from app.downloads.exceptions import (
    ForbiddenAddressError,
    InsufficientStorage,
)
from app.downloads.schemas import BatchOut, BatchRequest, JobError

router = APIRouter(prefix="/api/v1/batches", tags=["downloads"])

NONE_ACCEPTED = JobError(code="no_valid_urls", message="None of the URLs was accepted.")


@router.post(
    "",
    status_code=202,
    response_model=BatchOut,
    responses={
        422: {
            "model": BatchOut | ErrorResponse,
            "description": "no_valid_urls (every URL was rejected; the batch body), "
            "too_many_urls, validation_error",
        },
        **error_responses(
            ForbiddenAddressError,
            QuotaExceeded,
            InsufficientStorage,
            InsufficientScope,
            *KEY_ERRORS,
        ),
    },
    summary="Queue many URLs with shared options, as one batch job",
)
async def create_batch(
    body: BatchRequest,
    session: DbSession,
    api_key: WriteKey,
    settings: AppSettings,
    metrics: Metrics,
) -> BatchOut | JSONResponse:
    outcome = await service.create_batch(
        session, api_key=api_key, request=body, settings=settings, metrics=metrics
    )
    if outcome.batch_id is None:
        rejected = outcome.model_copy(update={"error": NONE_ACCEPTED})
        return JSONResponse(rejected.model_dump(mode="json"), status_code=422)
    return outcome
