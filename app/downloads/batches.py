"""API side of parent jobs: what a submission becomes, batches, cancel and retry of a family.
Like every service: no commits; effects run after the request's session commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.dependencies import after_commit
from app.core.errors import AppError
from app.downloads import urls
from app.downloads.exceptions import JobNotRetryable
from app.downloads.models import Job, JobStatus
from app.downloads.schemas import (
    BatchAccepted,
    BatchRejected,
    BatchRequest,
    CollectionOptions,
    JobError,
    check_url,
)
from app.downloads.tasks import enqueue_settle
from app.playlists import repository
from app.playlists.repository import NewChild, Settlement
from app.progress.publisher import publish_async
from app.progress.schemas import status_event
from app.webhooks.notify import notify_job_ended


def effective_collection(options: CollectionOptions, settings: Settings) -> dict[str, Any]:
    """The options as the worker applies them: caps and defaults filled in."""
    return {
        **options.model_dump(mode="json"),
        "max_items": min(options.max_items or settings.max_playlist_items,
                         settings.max_playlist_items),
        "concurrency": min(options.concurrency or settings.playlist_concurrency,
                           settings.max_playlist_concurrency),
    }  # fmt: skip


async def sort_batch(
    request: BatchRequest, settings: Settings
) -> tuple[list[tuple[BatchAccepted, NewChild]], list[BatchRejected]]:
    """Check every URL on its own: the accepted become children, the others get a code."""
    collection = effective_collection(request.collection_options(), settings)
    accepted: list[tuple[BatchAccepted, NewChild]] = []
    rejected: list[BatchRejected] = []
    for index, raw in enumerate(request.urls):
        try:
            url = check_url(raw.strip())
            target = urls.classify(url, settings.allowed_domains, playlist=request.playlist)
            await urls.check_address(url, settings)
        except ValueError as exc:
            error = JobError(code="invalid_url", message=str(exc))
            rejected.append(BatchRejected(index=index, url=raw[:2048], error=error))
            continue
        except AppError as exc:
            error = JobError(code=exc.code, message=exc.message)
            rejected.append(BatchRejected(index=index, url=raw[:2048], error=error))
            continue
        child = NewChild(
            id=uuid.uuid4(),
            position=len(accepted) + 1,
            url=target.url,
            kind=target.kind,
            video_id=urls.youtube_video_id(target.url),
            collection=collection if target.kind.is_parent else None,
        )
        item = BatchAccepted(index=index, url=url, job_id=child.id, kind=target.kind)
        accepted.append((item, child))
    return accepted, rejected


async def insert_batch(
    session: AsyncSession,
    *,
    api_key: ApiKey,
    request: BatchRequest,
    children: Sequence[NewChild],
    webhook_url: str | None,
    settings: Settings,
) -> Job:
    """The batch job and its children; the first ones are dispatched after the commit."""
    batch = await session.run_sync(
        partial(
            repository.insert_batch,
            api_key_id=api_key.id,
            options=request.job_options().model_dump(mode="json"),
            collection=effective_collection(request.collection_options(), settings),
            webhook_url=webhook_url,
            children=children,
        )
    )
    after_commit(session, partial(anyio.to_thread.run_sync, enqueue_settle, batch.id))
    return batch


def is_expanded(job: Job) -> bool:
    return job.kind.is_parent and job.status is JobStatus.PROCESSING and job.heartbeat_at is None


async def cancel_family(
    session: AsyncSession, *, parent: Job, redis: Redis, settings: Settings
) -> None:
    """Queued children end now, running ones are asked to stop; the parent ends (canceled)
    once none is running: now, or when the last running child stops."""
    parents = await session.run_sync(repository.request_family_cancel, parent.id)
    settlements: list[Settlement] = []
    for parent_id in reversed(parents):  # the deepest first: their parents see them ended
        settlement = await session.run_sync(
            partial(
                repository.settle,
                parent_id=parent_id,
                default_concurrency=settings.playlist_concurrency,
            )
        )
        if settlement is not None:
            settlements.append(settlement)
    after_commit(session, partial(announce, redis, settlements))


async def announce(redis: Redis, settlements: Sequence[Settlement]) -> None:
    """After the commit: tell WebSocket clients and webhooks what the settles did."""
    settled = {settlement.parent_id for settlement in settlements}
    for settlement in settlements:
        for child_id in settlement.canceled:
            event = status_event(child_id, JobStatus.CANCELED, 0.0, parent_id=settlement.parent_id)
            await publish_async(redis, event)
        if settlement.ended is None:
            continue
        await publish_async(
            redis,
            status_event(
                settlement.parent_id,
                settlement.ended,
                settlement.progress,
                settlement.error,
                parent_id=settlement.grandparent_id,
            ),
        )
        await job_ended(settlement.parent_id, settlement.has_webhook, None)
        if settlement.grandparent_id and settlement.grandparent_id not in settled:
            await anyio.to_thread.run_sync(enqueue_settle, settlement.grandparent_id)


async def job_ended(job_id: uuid.UUID, has_webhook: bool, parent_id: uuid.UUID | None) -> None:
    """After the commit that ended a job in the API (a cancel): its webhook, its parent."""
    if has_webhook:
        await anyio.to_thread.run_sync(notify_job_ended, job_id)
    if parent_id is not None:
        await anyio.to_thread.run_sync(enqueue_settle, parent_id)


async def retry_family(session: AsyncSession, *, parent: Job) -> bool:
    """Retry the failed and canceled children of an ended parent; False when it has no
    children (it failed before expanding: the caller retries it as a job)."""
    if not await session.run_sync(repository.has_children, parent.id):
        return False
    if not parent.status.is_terminal:
        raise JobNotRetryable(f"The {parent.kind} is {parent.status}; wait for it to end.")
    if not await session.run_sync(repository.retry_failed_children, parent.id):
        raise JobNotRetryable("No failed or canceled entries to retry.")
    after_commit(session, partial(anyio.to_thread.run_sync, enqueue_settle, parent.id))
    return True
