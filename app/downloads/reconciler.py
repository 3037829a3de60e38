"""Finds jobs that a lost message or a dead worker left behind and sets them going again."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import partial

from app.core.database import session_scope
from app.downloads import repository
from app.downloads.models import JobStatus
from app.downloads.pipeline import WorkerContext
from app.downloads.schemas import JobError
from app.metrics.service import record_job_end
from app.progress import publisher
from app.progress.tracker import ProgressTracker

logger = logging.getLogger(__name__)


def reconcile(ctx: WorkerContext, *, enqueue: Callable[[uuid.UUID], None]) -> int:
    """Re-enqueue stuck jobs; fail those out of attempts with `worker_lost`. Returns the count."""
    settings = ctx.settings
    with session_scope(ctx.sessions) as session:
        stuck = repository.find_stuck_jobs(
            session,
            lease_seconds=settings.job_lease_seconds,
            requeue_after_seconds=settings.requeue_after_seconds,
        )
    for job in stuck:
        if job.status is JobStatus.PROCESSING and job.cancel_requested:
            _end_abandoned(ctx, job.id, JobStatus.CANCELED)
        elif job.status is JobStatus.PROCESSING and job.attempts >= settings.max_attempts:
            _end_abandoned(
                ctx,
                job.id,
                JobStatus.FAILED,
                JobError(
                    code="worker_lost", message=f"The job's worker was lost {job.attempts} times."
                ),
            )
        else:
            with session_scope(ctx.sessions) as session:
                repository.mark_dispatched(session, job.id)
            enqueue(job.id)
            logger.info(
                "re-enqueued stuck job %s (%s, attempt %d)", job.id, job.status, job.attempts
            )
    return len(stuck)


def _end_abandoned(
    ctx: WorkerContext, job_id: uuid.UUID, status: JobStatus, error: JobError | None = None
) -> None:
    with session_scope(ctx.sessions) as session:
        ended = repository.end_abandoned(
            session,
            job_id,
            lease_seconds=ctx.settings.job_lease_seconds,
            status=status,
            error=error,
        )
    if ended:
        tracker = ProgressTracker(job_id, publish=partial(publisher.publish, ctx.redis))
        tracker.publish_status(status, error)
        record_job_end(
            ctx.redis,
            status,
            error_code=error.code if error else None,
            duration=None,
            downloaded_bytes=0,
            stored_bytes=0,
        )
