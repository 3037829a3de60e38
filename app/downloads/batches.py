"""Batches: many URLs with shared options become one parent job whose children are the URLs
that pass their checks (each URL is checked on its own)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import AppError
from app.core.urls import AmbiguousUrl, check_url
from app.downloads import urls
from app.downloads.families import NewChild, add_children, effective_collection
from app.downloads.schemas import (
    BatchAccepted,
    BatchRejected,
    BatchRequest,
)
from app.jobs.models import Job, JobKind, JobStage, JobStatus, Priority
from app.jobs.schemas import JobError
from app.security.service import check_address


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
            await check_address(url, settings)
        except AmbiguousUrl as exc:
            error = JobError(code="unsupported_url", message=f"Unsupported URL: {exc}.")
            rejected.append(BatchRejected(index=index, url=raw[:2048], error=error))
            continue
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


def insert_batch(
    session: Session,
    *,
    api_key_id: uuid.UUID,
    options: dict[str, Any],
    collection: dict[str, Any],
    webhook_url: str | None,
    children: Sequence[NewChild],
    priority: Priority = Priority.NORMAL,
) -> Job:
    """A batch is born expanded: its children are the accepted URLs."""
    now = utcnow()
    batch = Job(
        api_key_id=api_key_id,
        kind=JobKind.BATCH,
        url="",
        options=options,
        collection=collection,
        webhook_url=webhook_url,
        priority=priority,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        created_at=now,
        started_at=now,
        dispatched_at=now,
        details={},
        files=[],
    )
    session.add(batch)
    session.flush()
    add_children(session, batch.id, api_key_id, options, children, priority)
    return batch
