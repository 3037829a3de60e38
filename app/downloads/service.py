"""Rules of the downloads API: create, cancel, delete, retry, for single videos and for
families (playlists, channels, batches). No HTTP here, and no commits: the request's
session commits, then the after-commit actions run (enqueue, announce, delete files)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from functools import partial

from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.api.state import AppState
from app.auth.exceptions import QuotaExceeded
from app.auth.models import ApiKey
from app.core.celery_app import (
    MAINTENANCE_QUEUE,
    RUN_DOWNLOAD_TASK,
    SETTLE_PARENT_TASK,
    download_queue,
)
from app.core.config import Settings, StorageBackend, TranscribeMode
from app.core.database import AfterCommit, after_commit
from app.downloads import batches, families, repository, urls
from app.downloads.endings import JobEffects, end_job
from app.downloads.exceptions import (
    AsrDisabled,
    InsufficientStorage,
    InvalidOptions,
    JobNotPausable,
    JobNotPaused,
    JobNotRetryable,
    TooManyUrls,
)
from app.downloads.families import Family
from app.downloads.repository import lease_expired, transcribing
from app.downloads.schemas import BatchOut, BatchRequest, DownloadRequest, JobOptions
from app.jobs import events
from app.jobs.exceptions import JobNotFound
from app.jobs.models import Job, JobFile, JobStage, JobStatus, Priority
from app.jobs.repository import get_job
from app.security.service import check_address
from app.storage.base import StorageHandler
from app.worker.dispatch import enqueue_download, enqueue_settle
from app.worker.presence import live_workers

WORKERS_KEY = "any"


async def workers_alive(state: AppState, jobs: Sequence[Job]) -> bool:
    """Whether any worker is up, asked only when one of `jobs` is queued (it spares a Redis
    scan otherwise). Redis unreachable says True: no claim about workers it cannot see."""
    if not any(job.status is JobStatus.QUEUED for job in jobs):
        return True
    seen = state.workers_seen.get(WORKERS_KEY)
    if seen is not None:
        return seen
    try:
        alive = bool(await live_workers(state.redis))
    except RedisError:
        return True
    state.workers_seen.put(WORKERS_KEY, alive)
    return alive


def api_effects(state: AppState) -> JobEffects:
    """What follows a job's change made by the API: a worker settles the parent."""
    return JobEffects(
        redis=state.sync_redis,
        enqueue=enqueue_download,
        settle_parent=enqueue_settle,
        work_dir=state.settings.work_dir,
    )


async def create_job(
    session: AsyncSession, *, api_key: ApiKey, request: DownloadRequest, state: AppState
) -> Job:
    """A video job, or a playlist or channel job that a worker expands into children."""
    settings = state.settings
    target = urls.classify(request.url, settings.allowed_domains, playlist=request.playlist)
    if not target.kind.is_parent and request.sets_collection_options:
        raise InvalidOptions(
            "playlist_items, max_items, date_after, date_before, concurrency and "
            "skip_existing apply to playlist and channel URLs only."
        )
    _check_dates(request)
    options = with_transcribe_mode(request.job_options(), settings)
    await check_address(request.url, settings)
    webhook_url = await _webhook_url(request.webhook_url, api_key, settings)
    _check_free_disk(state)

    def check_and_insert(sync_session: Session) -> Job:
        # The quota count and the INSERT in one hop into the session's sync code.
        _check_quota_counts(sync_session, api_key, settings)
        collection = families.effective_collection(request.collection_options(), settings)
        return repository.add_submission(
            sync_session,
            api_key_id=api_key.id,
            url=target.url,
            kind=target.kind,
            options=options.model_dump(mode="json"),
            collection=collection if target.kind.is_parent else None,
            webhook_url=webhook_url,
            priority=request.priority,
        )

    job = await session.run_sync(check_and_insert)
    after_commit(session, _send_download(state, job.id, job.priority))
    after_commit(session, state.metrics.jobs_created)
    return job


async def create_batch(
    session: AsyncSession, *, api_key: ApiKey, request: BatchRequest, state: AppState
) -> BatchOut:
    """One parent job whose children are the URLs that pass their checks."""
    settings = state.settings
    if len(request.urls) > settings.batch_max_urls:
        raise TooManyUrls(
            f"{len(request.urls)} URLs; a batch takes at most {settings.batch_max_urls} "
            "(BATCH_MAX_URLS)."
        )
    _check_dates(request)
    options = with_transcribe_mode(request.job_options(), settings)
    accepted, rejected = await batches.sort_batch(request, settings)
    if not accepted:
        return BatchOut(batch_id=None, accepted=[], rejected=rejected)
    webhook_url = await _webhook_url(request.webhook_url, api_key, settings)
    _check_free_disk(state)
    await _check_quotas(session, api_key, settings)
    batch = await session.run_sync(
        partial(
            batches.insert_batch,
            api_key_id=api_key.id,
            options=options.model_dump(mode="json"),
            collection=families.effective_collection(request.collection_options(), settings),
            webhook_url=webhook_url,
            children=[child for _, child in accepted],
            priority=request.priority,
        )
    )
    # The settle dispatches the first children.
    after_commit(session, _send_settle(state, batch.id))
    # The batch itself is a job too: it ends (and is counted as ended) like its children.
    after_commit(session, partial(state.metrics.jobs_created, len(accepted) + 1))
    return BatchOut(batch_id=batch.id, accepted=[item for item, _ in accepted], rejected=rejected)


def _send_download(state: AppState, job_id: uuid.UUID, priority: Priority) -> AfterCommit:
    """The job's message (task id = job id) on its priority's queue, sent on the event loop
    to a Redis broker."""
    if state.task_sender is None:
        return partial(enqueue_download, job_id, 0, priority)
    return partial(
        state.task_sender.send,
        RUN_DOWNLOAD_TASK,
        [str(job_id)],
        queue=download_queue(priority),
        task_id=str(job_id),
    )


def _send_settle(state: AppState, parent_id: uuid.UUID) -> AfterCommit:
    if state.task_sender is None:
        return partial(enqueue_settle, parent_id)
    return partial(
        state.task_sender.send, SETTLE_PARENT_TASK, [str(parent_id)], queue=MAINTENANCE_QUEUE
    )


def with_transcribe_mode(options: JobOptions, settings: Settings) -> JobOptions:
    """The options with `transcribe` decided now (the server's default when unset), so a
    job keeps the mode it was accepted with; raises AsrDisabled when recognition is asked
    for and the server has none."""
    if options.recognizes_speech and not settings.asr_enabled:
        raise AsrDisabled()
    mode = options.transcribe
    if mode is None:
        enabled = settings.asr_enabled and options.include_transcription
        mode = settings.asr_default_transcribe if enabled else TranscribeMode.NEVER
    return options.model_copy(update={"transcribe": mode})


def _check_dates(request: DownloadRequest | BatchRequest) -> None:
    if request.dates_inverted:
        raise InvalidOptions("date_after is later than date_before.")


async def _webhook_url(requested: str | None, api_key: ApiKey, settings: Settings) -> str | None:
    """The request's webhook (which must pass the address rules now), else the key's."""
    if requested is None:
        return api_key.webhook_url
    await check_address(requested, settings)
    return requested


async def _check_quotas(session: AsyncSession, api_key: ApiKey, settings: Settings) -> None:
    await session.run_sync(_check_quota_counts, api_key, settings)


def active_job_limit(api_key: ApiKey, settings: Settings) -> int:
    """How many queued or running submissions the key may have at once."""
    return api_key.max_active_jobs or settings.max_active_jobs_per_key


def free_active_slots(session: Session, api_key: ApiKey, settings: Settings) -> int:
    """How many more submissions the key may have queued or running now (0 when none)."""
    limit = active_job_limit(api_key, settings)
    active, _ = repository.submission_counts(
        session,
        api_key_id=api_key.id,
        since=dt.datetime.now(dt.UTC),
        active_cap=limit,
        created_cap=0,
    )
    return max(limit - active, 0)


def _check_quota_counts(session: Session, api_key: ApiKey, settings: Settings) -> None:
    active_limit = active_job_limit(api_key, settings)
    daily_limit = api_key.max_jobs_per_day or settings.max_jobs_per_day_per_key
    active, today = repository.submission_counts(
        session,
        api_key_id=api_key.id,
        since=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        active_cap=active_limit,
        created_cap=daily_limit,
    )
    if active >= active_limit:
        raise QuotaExceeded(
            f"The key already has {active} queued or running jobs (limit {active_limit}); "
            "wait for some to finish."
        )
    if today >= daily_limit:
        raise QuotaExceeded(
            f"The key created {today} jobs in the last 24 hours (limit {daily_limit})."
        )


def _check_free_disk(state: AppState) -> None:
    """With local storage the API shares the disk the workers fill; refuse work early."""
    settings = state.settings
    if settings.effective_storage is not StorageBackend.LOCAL:
        return
    free, where = state.free_disk.lowest()
    if free < settings.min_free_disk_gb:
        raise InsufficientStorage(
            f"Only {free:.2f} GB free at {where.name or where}; at least "
            f"{settings.min_free_disk_gb:g} GB (MIN_FREE_DISK_GB) is needed for new downloads."
        )


async def list_jobs(
    session: AsyncSession,
    *,
    api_key: ApiKey,
    status: JobStatus | None,
    parent_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Job], int]:
    return await session.run_sync(
        partial(
            repository.list_jobs,
            api_key_id=api_key.id,
            status=status,
            parent_id=parent_id,
            limit=limit,
            offset=offset,
        )
    )


async def families_of(session: AsyncSession, jobs: Sequence[Job]) -> dict[uuid.UUID, Family]:
    """Children counts and live progress of the parents among `jobs`."""
    if not any(job.kind.is_parent for job in jobs):
        return {}
    return await session.run_sync(families.families, jobs)


async def cancel_or_delete(session: AsyncSession, *, job: Job, state: AppState) -> Job | None:
    """Cancel a queued or running job (returned), or delete a finished one (None). A
    playlist's children go with it."""
    if job.status.is_terminal:
        stored = await session.run_sync(repository.family_storage_keys, job.id)
        await session.run_sync(repository.delete_job, job.id)
        after_commit(session, partial(_delete_objects, state.storage, stored))
        return None
    effects = api_effects(state)
    if await session.run_sync(families.is_paused_family, job):
        # Reopened without a dispatch, so the cancel ends its entries like a running family's.
        await session.run_sync(families.resume_family, job.id)
        job = await _reload(session, job.id)
    if families.is_expanded(job):
        await _cancel_family(session, parent=job, effects=effects, settings=state.settings)
        return await _reload(session, job.id)
    canceled = await session.run_sync(
        partial(
            end_job,
            effects=effects,
            job_id=job.id,
            status=JobStatus.CANCELED,
            expected=Job.status.in_([JobStatus.QUEUED, JobStatus.PAUSED]),
        )
    ) or await session.run_sync(
        # Processing under a worker that died, or waiting for a speech-recognition worker:
        # nobody else would end it now.
        partial(
            end_job,
            effects=effects,
            job_id=job.id,
            status=JobStatus.CANCELED,
            expected=or_(
                lease_expired(state.settings.job_lease_seconds),
                and_(transcribing(), Job.worker_id.is_(None)),
            ),
            fields={"error_code": None, "error_message": None},
        )
    )
    if canceled:
        return await _reload(session, job.id)
    # A live worker sees the flag at its next heartbeat and stops yt-dlp itself.
    await session.run_sync(repository.request_cancel, job.id)
    return await _reload(session, job.id)


async def _cancel_family(
    session: AsyncSession, *, parent: Job, effects: JobEffects, settings: Settings
) -> None:
    """Queued children end now, running ones are asked to stop; the parent ends (canceled)
    once none is running: now, or when the last running child stops."""
    parents = await session.run_sync(families.request_family_cancel, parent.id)
    for parent_id in reversed(parents):  # the deepest first: their parents see them ended
        await session.run_sync(
            partial(
                families.settle,
                parent_id=parent_id,
                effects=effects,
                default_concurrency=settings.playlist_concurrency,
            )
        )


async def retry_own_job(
    session: AsyncSession, *, job: Job, api_key: ApiKey, state: AppState
) -> Job:
    """A key's retry of one of its jobs. A submission that runs again (or an ended family
    that an entry's retry reopens) is active again, so it must fit in the key's active jobs
    limit, as a new submission must; an entry of a running family takes no more. Counted
    after the retry, in its transaction: over the limit, the request fails and the retry is
    rolled back."""
    retried = await retry_job(session, job=job)
    if await session.run_sync(over_active_limit, api_key, state.settings):
        raise QuotaExceeded(
            f"The key already has {active_job_limit(api_key, state.settings)} queued or "
            "running jobs, its limit; retry once some have finished."
        )
    return retried


def over_active_limit(session: Session, api_key: ApiKey, settings: Settings) -> bool:
    limit = active_job_limit(api_key, settings)
    active, _ = repository.submission_counts(
        session,
        api_key_id=api_key.id,
        since=dt.datetime.now(dt.UTC),
        active_cap=limit + 1,
        created_cap=0,
    )
    return active > limit


async def pause_job(session: AsyncSession, *, job: Job, state: AppState) -> Job:
    """Pause a queued or running download, keeping its partial files: a queued one (or one
    whose worker died) now, a running one at its worker's next heartbeat; a family's
    unfinished entries with it. Pausing a paused job changes nothing."""
    if job.status is JobStatus.PAUSED:
        return job
    if job.status.is_terminal:
        raise JobNotPausable(
            f"The job is {job.status}; only queued or running downloads can be paused."
        )
    _check_stage_pausable(job)
    if families.is_expanded(job):
        found = await session.run_sync(families.pause_family, job.id)
        await session.run_sync(_announce_statuses, found.jobs, state)
        return await _reload(session, job.id)
    lease_seconds = state.settings.job_lease_seconds
    if await session.run_sync(
        partial(repository.pause_waiting, job_id=job.id, lease_seconds=lease_seconds)
    ):
        await session.run_sync(_announce_statuses, [job.id], state)
        if job.parent_id is not None:
            # The entry no longer takes one of its family's slots: the next one may start.
            after_commit(session, partial(enqueue_settle, job.parent_id))
        return await _reload(session, job.id)
    if await session.run_sync(repository.request_pause, job.id):
        # Its worker stops yt-dlp at the next heartbeat and records the job paused.
        return await _reload(session, job.id)
    current = await _reload(session, job.id)  # it changed meanwhile: ended, paused, storing
    if current.status is JobStatus.PAUSED:
        return current
    _check_stage_pausable(current)
    raise JobNotPausable(f"The job is {current.status}; it can no longer be paused.")


def _check_stage_pausable(job: Job) -> None:
    """Past its download a job finishes: its files leave the work directory as they are
    stored, and a pause would lose them."""
    if job.stage is JobStage.UPLOADING:
        raise JobNotPausable(
            "The job's download is done and its files are being stored; it completes in "
            "moments and cannot be paused."
        )
    if job.stage is JobStage.TRANSCRIBING:
        raise JobNotPausable(
            "The job's media is stored and only its speech recognition is left; "
            "it cannot be paused."
        )


async def resume_job(session: AsyncSession, *, job: Job, state: AppState) -> Job:
    """Queue a paused job again; it continues its partial files. A family's paused entries
    go back to the parent's settle, which dispatches them up to its concurrency. A pause a
    running job's worker has not acted on yet is withdrawn."""
    if job.status is JobStatus.PROCESSING and job.pause_requested:
        await session.run_sync(repository.withdraw_pause, job.id)
        return await _reload(session, job.id)
    if job.status is not JobStatus.PAUSED:
        raise JobNotPaused(f"The job is {job.status}; only paused jobs can be resumed.")
    if await session.run_sync(families.is_paused_family, job):
        found = await session.run_sync(families.resume_family, job.id)
        # Announced before the messages go: a worker's first event follows the resume's.
        await session.run_sync(_announce_statuses, found.jobs, state)
        for parent_id in found.parents:
            after_commit(session, _send_settle(state, parent_id))
        return await _reload(session, job.id)
    held = job.parent_id is not None
    if not await session.run_sync(partial(repository.resume, job_id=job.id, held=held)):
        raise JobNotPaused()
    await session.run_sync(_announce_statuses, [job.id], state)
    if job.parent_id is not None:
        after_commit(session, _send_settle(state, job.parent_id))
    else:
        after_commit(session, _send_download(state, job.id, job.priority))
    return await _reload(session, job.id)


def _announce_statuses(session: Session, job_ids: Sequence[uuid.UUID], state: AppState) -> None:
    """After the commit, a status event for each of the jobs as they are now (paused, or
    queued again on a resume) for their progress streams."""
    rows = session.execute(
        select(Job.id, Job.status, Job.progress, Job.parent_id).where(Job.id.in_(list(job_ids)))
    ).all()
    published = [
        events.status_event(row.id, JobStatus(row.status), row.progress, parent_id=row.parent_id)
        for row in rows
    ]

    def publish() -> None:
        for event in published:
            events.publish(state.sync_redis, event)

    after_commit(session, publish)


async def retry_job(session: AsyncSession, *, job: Job) -> Job:
    """Run a failed or canceled job again; for a playlist, its failed and canceled entries.
    A completed job with corrupt or missing files runs again too, and only those files are
    stored again (the intact ones and their ids stay)."""
    if job.kind.is_parent and await _retry_family(session, parent=job):
        return await _reload(session, job.id)
    if job.parent_id is not None and await _reopen_family_of(session, entry=job):
        return await _reload(session, job.id)
    damaged = any(stored.state.is_damaged for stored in job.files)
    if job.status is JobStatus.COMPLETED and not damaged:
        raise JobNotRetryable(
            "The job is completed and its files are intact; only failed or canceled jobs, "
            "or completed ones with damaged files, can be retried."
        )
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELED, JobStatus.COMPLETED):
        raise JobNotRetryable(
            f"The job is {job.status}; only failed or canceled jobs can be retried."
        )
    if not await session.run_sync(repository.reset_for_retry, job.id):
        raise JobNotRetryable()
    after_commit(session, partial(enqueue_download, job.id, 0, job.priority))
    return await _reload(session, job.id)


async def _retry_family(session: AsyncSession, *, parent: Job) -> bool:
    """Retry the failed and canceled children of an ended parent; False when it has no
    children (it failed before expanding: the caller retries it as a job)."""
    if not await session.run_sync(families.has_children, parent.id):
        return False
    if not parent.status.is_terminal:
        raise JobNotRetryable(f"The {parent.kind} is {parent.status}; wait for it to end.")
    if not await session.run_sync(families.retry_failed_children, parent.id):
        raise JobNotRetryable("No failed or canceled entries to retry.")
    after_commit(session, partial(enqueue_settle, parent.id))
    return True


async def _reopen_family_of(session: AsyncSession, *, entry: Job) -> bool:
    """A failed or canceled entry of an ended family runs again through its family, as the
    family's own retry runs them: the family reopens and dispatches it (its concurrency
    holds), then ends again with the entry's outcome. False when the family still runs
    (the entry is retried on its own) or the entry did not fail."""
    if entry.parent_id is None or entry.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        return False
    parent = await session.run_sync(get_job, entry.parent_id)
    if parent is None or not parent.status.is_terminal:
        return False
    if not await session.run_sync(families.retry_children, parent.id, [entry.id]):
        raise JobNotRetryable("It changed meanwhile; it is no longer failed.")
    after_commit(session, partial(enqueue_settle, parent.id))
    return True


def find_file(job: Job, file_id: uuid.UUID) -> JobFile | None:
    return next((f for f in job.files if f.id == file_id), None)


async def _reload(session: AsyncSession, job_id: uuid.UUID) -> Job:
    job = await session.run_sync(get_job, job_id)
    if job is None:
        raise JobNotFound()
    return job


def _delete_objects(storage: StorageHandler, stored: dict[uuid.UUID, list[str]]) -> None:
    for job_id, keys in stored.items():
        for key in keys:
            storage.delete(key)
        storage.delete_prefix(str(job_id))
