from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.dependencies import DbSession, State, Storage
from app.api.state import AppState, app_state
from app.auth.dependencies import ReadKey, WriteKey
from app.auth.exceptions import AUTH_ERRORS as KEY_ERRORS
from app.auth.exceptions import InsufficientScope, QuotaExceeded
from app.core.errors import ErrorResponse, error_responses
from app.downloads import files, recovery, service
from app.downloads.exceptions import (
    AsrDisabled,
    FileCorrupt,
    FileNotFound,
    InsufficientStorage,
    InvalidOptions,
    InvalidRange,
    JobNotPausable,
    JobNotPaused,
    JobNotRetryable,
    RangeNotSatisfiable,
    UnsupportedUrl,
)
from app.downloads.presenter import download_filename, media_type, present_job
from app.downloads.schemas import (
    BatchOut,
    BatchRequest,
    DownloadRequest,
    FailuresOut,
    JobOut,
    JobPage,
    RetryFilter,
    RetryOutcome,
)
from app.jobs.dependencies import ReadableJob, WritableJob
from app.jobs.exceptions import JobNotFound
from app.jobs.models import Job, JobStatus
from app.jobs.schemas import JobError
from app.security.exceptions import ForbiddenAddressError

router = APIRouter(tags=["downloads"])
DOWNLOADS = "/api/v1/downloads"
AUTH_ERRORS = (*KEY_ERRORS, InsufficientScope)
NONE_ACCEPTED = JobError(code="no_valid_urls", message="None of the URLs was accepted.")
PARENT_FILTER = (
    "List this playlist's, channel's or batch's jobs (in order) instead of the key's own "
    "submissions (which are listed without their entries)."
)
FAMILY_FAILURES = (
    "Group this playlist's, channel's or batch's failed entries instead of the key's own "
    "failed submissions."
)


async def _present(job: Job, request: Request, state: AppState, session: AsyncSession) -> JobOut:
    family = (await service.families_of(session, [job])).get(job.id)
    return present_job(
        job,
        storage=state.storage,
        connection=request,
        family=family,
        workers_alive=await service.workers_alive(state, [job]),
    )


def _json(body: JobOut, *, status_code: int) -> Response:
    """The body `response_model=JobOut` would send, serialized once: FastAPI would dump the
    model, validate the dump against the model again and serialize that."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")


@router.post(
    DOWNLOADS,
    status_code=202,
    response_model=JobOut,
    responses=error_responses(
        UnsupportedUrl,
        ForbiddenAddressError,
        InvalidOptions,
        AsrDisabled,
        QuotaExceeded,
        InsufficientStorage,
        *AUTH_ERRORS,
    ),
    summary="Queue a video, playlist or channel download",
)
async def create_download(
    body: DownloadRequest,
    request: Request,
    session: DbSession,
    api_key: WriteKey,
) -> Response:
    state = app_state(request)  # not a dependency: each one is solved per request
    job = await service.create_job(session, api_key=api_key, request=body, state=state)
    return _json(await _present(job, request, state, session), status_code=202)


@router.get(
    DOWNLOADS, response_model=JobPage, responses=error_responses(*AUTH_ERRORS), summary="List jobs"
)
async def list_downloads(
    request: Request,
    session: DbSession,
    api_key: ReadKey,
    state: State,
    status: JobStatus | None = None,
    parent_id: Annotated[uuid.UUID | None, Query(description=PARENT_FILTER)] = None,
    limit: int = Query(default=20, ge=1, le=100),
    offset: int = Query(default=0, ge=0, le=1_000_000_000),
) -> JobPage:
    jobs, total = await service.list_jobs(
        session, api_key=api_key, status=status, parent_id=parent_id, limit=limit, offset=offset
    )
    families = await service.families_of(session, jobs)
    alive = await service.workers_alive(state, jobs)
    return JobPage(
        items=[
            present_job(
                job,
                storage=state.storage,
                connection=request,
                family=families.get(job.id),
                workers_alive=alive,
            )
            for job in jobs
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    f"{DOWNLOADS}/failures",
    response_model=FailuresOut,
    responses=error_responses(JobNotFound, *AUTH_ERRORS),
    summary="The key's failed and canceled jobs by error code, each with a hint",
)
async def list_failures(
    session: DbSession,
    api_key: ReadKey,
    parent_id: Annotated[uuid.UUID | None, Query(description=FAMILY_FAILURES)] = None,
) -> FailuresOut:
    return await recovery.failures(session, api_key=api_key, parent_id=parent_id)


@router.post(
    f"{DOWNLOADS}/retry",
    response_model=RetryOutcome,
    responses=error_responses(JobNotFound, *AUTH_ERRORS),
    summary="Retry the key's failed and canceled jobs that match a filter (a bounded number "
    "a call)",
)
async def retry_downloads(
    body: RetryFilter, session: DbSession, api_key: WriteKey, state: State
) -> RetryOutcome:
    return await recovery.retry_matching(session, api_key=api_key, request=body, state=state)


@router.get(
    f"{DOWNLOADS}/{{job_id}}",
    response_model=JobOut,
    responses=error_responses(JobNotFound, *AUTH_ERRORS),
    summary="Get a job",
)
async def get_download(
    job: ReadableJob, request: Request, state: State, session: DbSession
) -> JobOut:
    return await _present(job, request, state, session)


@router.delete(
    f"{DOWNLOADS}/{{job_id}}",
    response_model=JobOut,
    status_code=202,
    responses={
        204: {"description": "The finished job and its files were deleted."},
        **error_responses(JobNotFound, *AUTH_ERRORS),
    },
    summary="Cancel a queued or running job, or delete a finished one (with its entries)",
)
async def delete_download(
    job: WritableJob, request: Request, session: DbSession, state: State
) -> JobOut | Response:
    remaining = await service.cancel_or_delete(session, job=job, state=state)
    if remaining is None:
        return Response(status_code=204)
    return await _present(remaining, request, state, session)


@router.post(
    f"{DOWNLOADS}/{{job_id}}/retry",
    status_code=202,
    response_model=JobOut,
    responses=error_responses(JobNotFound, JobNotRetryable, QuotaExceeded, *AUTH_ERRORS),
    summary="Retry a failed or canceled job (a playlist: its failed and canceled entries), "
    "or re-fetch the damaged files of a completed one",
)
async def retry_download(
    job: WritableJob, api_key: WriteKey, request: Request, session: DbSession, state: State
) -> JobOut:
    retried = await service.retry_own_job(session, job=job, api_key=api_key, state=state)
    return await _present(retried, request, state, session)


@router.post(
    f"{DOWNLOADS}/{{job_id}}/pause",
    response_model=JobOut,
    responses=error_responses(JobNotFound, JobNotPausable, *AUTH_ERRORS),
    summary="Pause a queued or running download (a playlist: its unfinished entries), "
    "keeping its partial files",
)
async def pause_download(
    job: WritableJob, request: Request, session: DbSession, state: State
) -> JobOut:
    paused = await service.pause_job(session, job=job, state=state)
    return await _present(paused, request, state, session)


@router.post(
    f"{DOWNLOADS}/{{job_id}}/resume",
    response_model=JobOut,
    responses=error_responses(JobNotFound, JobNotPaused, *AUTH_ERRORS),
    summary="Resume a paused download where it stopped (a playlist: its paused entries)",
)
async def resume_download(
    job: WritableJob, request: Request, session: DbSession, state: State
) -> JobOut:
    resumed = await service.resume_job(session, job=job, state=state)
    return await _present(resumed, request, state, session)


@router.get(
    f"{DOWNLOADS}/{{job_id}}/files/{{file_id}}",
    name="get_download_file",
    response_class=FileResponse,
    responses=error_responses(
        JobNotFound, FileNotFound, FileCorrupt, InvalidRange, RangeNotSatisfiable, *AUTH_ERRORS
    ),
    summary="Stream a stored file (one HTTP Range; a whole file is verified while it streams)",
)
async def get_download_file(
    file_id: uuid.UUID, job: ReadableJob, request: Request, storage: Storage, state: State
) -> Response:
    stored = service.find_file(job, file_id)
    if stored is None:
        raise FileNotFound()
    return await files.file_response(
        request,
        state,
        storage,
        stored,
        filename=download_filename(job, stored),
        media_type=media_type(stored),
    )


router.add_api_route(
    f"{DOWNLOADS}/{{job_id}}/files/{{file_id}}",
    get_download_file,
    methods=["HEAD"],
    include_in_schema=False,
)


@router.post(
    "/api/v1/batches",
    status_code=202,
    response_model=BatchOut,
    responses={
        422: {
            "model": BatchOut | ErrorResponse,
            "description": "no_valid_urls (every URL was rejected; the batch body), "
            "too_many_urls, asr_disabled, validation_error",
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
    body: BatchRequest, session: DbSession, api_key: WriteKey, state: State
) -> BatchOut | JSONResponse:
    outcome = await service.create_batch(session, api_key=api_key, request=body, state=state)
    if outcome.batch_id is None:
        rejected = outcome.model_copy(update={"error": NONE_ACCEPTED})
        return JSONResponse(rejected.model_dump(mode="json"), status_code=422)
    return outcome
