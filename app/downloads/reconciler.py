"""Finds jobs that a lost message or a dead worker left behind and sets them going again."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from app.core.database import session_scope, utcnow
from app.downloads import repository
from app.downloads.context import WorkerContext
from app.downloads.models import JobStatus
from app.downloads.repository import StuckJob
from app.downloads.schemas import JobError
from app.metrics.service import record_job_end
from app.playlists.worker import job_ended, settle_all
from app.progress import publisher
from app.progress.tracker import ProgressTracker

logger = logging.getLogger(__name__)


def reconcile(ctx: WorkerContext, *, queued_in_broker: set[str] | None) -> int:
    """Re-enqueue stuck jobs; end abandoned ones. Returns how many jobs it acted on.

    `queued_in_broker` holds the task ids the broker still has (None when it cannot be
    inspected): a queued job among them is waiting its turn, not lost.
    """
    settings = ctx.settings
    grace = (
        settings.dispatch_grace_seconds
        if queued_in_broker is not None
        else settings.requeue_after_seconds
    )
    with session_scope(ctx.sessions) as session:
        stuck = repository.find_stuck_jobs(
            session,
            lease_seconds=settings.job_lease_seconds,
            dispatched_before=utcnow() - dt.timedelta(seconds=grace),
        )
    acted = 0
    for job in stuck:
        if job.status is JobStatus.QUEUED and str(job.id) in (queued_in_broker or ()):
            continue
        acted += 1
        if job.status is JobStatus.PROCESSING and job.cancel_requested:
            _end_abandoned(ctx, job, JobStatus.CANCELED)
        elif job.status is JobStatus.PROCESSING and job.attempts >= settings.max_attempts:
            error = JobError(
                code="worker_lost", message=f"The job's worker was lost {job.attempts} times."
            )
            _end_abandoned(ctx, job, JobStatus.FAILED, error)
        else:
            with session_scope(ctx.sessions) as session:
                repository.mark_dispatched(session, job.id)
            ctx.enqueue(job.id, 0)
            logger.info(
                "re-enqueued stuck job %s (%s, attempt %d)", job.id, job.status, job.attempts
            )
    settle_all(ctx)
    return acted


def _end_abandoned(
    ctx: WorkerContext, job: StuckJob, status: JobStatus, error: JobError | None = None
) -> None:
    with session_scope(ctx.sessions) as session:
        ended = repository.end_abandoned(
            session,
            job.id,
            lease_seconds=ctx.settings.job_lease_seconds,
            status=status,
            error=error,
        )
    if ended:
        record_job_end(
            ctx.redis,
            status,
            error_code=error.code if error else None,
            duration=None,
            downloaded_bytes=0,
            stored_bytes=0,
        )
        tracker = ProgressTracker(
            job.id, publish=partial(publisher.publish, ctx.redis), parent_id=job.parent_id
        )
        tracker.publish_status(status, error)
        job_ended(ctx, job.id, parent_id=job.parent_id, has_webhook=job.has_webhook)
