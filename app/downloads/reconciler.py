"""Finds jobs that a lost message or a dead worker left behind and sets them going again."""

from __future__ import annotations

import datetime as dt
import logging

from app.core.database import session_scope, utcnow
from app.downloads import repository, transcription
from app.downloads.endings import end_job, worker_lost
from app.downloads.families import settle_all, worker_effects
from app.downloads.repository import StuckJob, lease_expired
from app.jobs import events
from app.jobs.models import JobStage, JobStatus
from app.jobs.repository import get_job
from app.jobs.schemas import JobError
from app.worker.context import WorkerContext, run_db

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
        if job.stage is JobStage.TRANSCRIBING:
            acted += _recover_transcription(ctx, job, queued_in_broker)
            continue
        if job.status is JobStatus.QUEUED and str(job.id) in (queued_in_broker or ()):
            continue
        acted += 1
        if job.status is JobStatus.PROCESSING and job.cancel_requested:
            _end_abandoned(ctx, job, JobStatus.CANCELED)
        elif job.status is JobStatus.PROCESSING and job.pause_requested:
            _pause_abandoned(ctx, job)
        elif job.status is JobStatus.PROCESSING and job.attempts >= settings.max_attempts:
            _end_abandoned(ctx, job, JobStatus.FAILED, worker_lost(job.attempts, job.last_error))
        else:
            with session_scope(ctx.sessions) as session:
                repository.mark_dispatched(session, job.id)
            ctx.enqueue(job.id, 0, job.priority)
            logger.info(
                "re-enqueued stuck job %s (%s, attempt %d)", job.id, job.status, job.attempts
            )
    settle_all(ctx)
    return acted


def raise_aged(ctx: WorkerContext) -> int:
    """No starving: a job waiting PRIORITY_AGE_BOOST_MINUTES for a worker is raised one
    priority step and sent again on that queue (its earlier message, when a worker gets
    to it, finds the job taken). Returns how many jobs were raised."""
    minutes = ctx.settings.priority_age_boost_minutes
    if not minutes:
        return 0
    due_before = utcnow() - dt.timedelta(minutes=minutes)
    raised = run_db(ctx, repository.raise_waiting, due_before=due_before)
    for job in raised:
        ctx.enqueue(job.job_id, 0, job.priority)
        # Its watchers see the new priority (the queue's tag) without reading the job again.
        event = events.status_event(job.job_id, JobStatus.QUEUED, job.progress,
                                    parent_id=job.parent_id)  # fmt: skip
        update = {"priority": job.priority, "waiting_reason": job.waiting_reason}
        events.publish(ctx.redis, event.model_copy(update=update))
        logger.info("job %s waited over %s min: raised to %s", job.job_id, minutes, job.priority)
    return len(raised)


def _end_abandoned(
    ctx: WorkerContext, job: StuckJob, status: JobStatus, error: JobError | None = None
) -> None:
    """End a processing job whose worker stopped renewing its lease: nobody else will."""
    run_db(
        ctx,
        end_job,
        worker_effects(ctx),
        job.id,
        status=status,
        expected=lease_expired(ctx.settings.job_lease_seconds),
        error=error,
        fields={} if error else {"error_code": None, "error_message": None},
    )


def _pause_abandoned(ctx: WorkerContext, job: StuckJob) -> None:
    """A job paused by its owner whose worker died before it stopped: paused now (its
    family's settle, below, dispatches the next entry)."""
    lease_seconds = ctx.settings.job_lease_seconds
    if run_db(ctx, repository.pause_abandoned, job.id, lease_seconds=lease_seconds):
        paused = run_db(ctx, get_job, job.id)
        if paused is not None:
            event = events.status_event(
                job.id, JobStatus.PAUSED, paused.progress, parent_id=paused.parent_id
            )
            events.publish(ctx.redis, event)
        logger.info("paused job %s, whose worker was lost", job.id)


def _recover_transcription(
    ctx: WorkerContext, job: StuckJob, queued_in_broker: set[str] | None
) -> int:
    """A job whose media is stored is never failed nor lost: its recognition is sent again,
    or, once its workers were lost MAX_ATTEMPTS times, it completes without it."""
    settings = ctx.settings
    if not job.claimed and str(job.id) in (queued_in_broker or ()):
        return 0  # waiting its turn behind other recognitions
    expired = lease_expired(settings.job_lease_seconds)
    if job.cancel_requested:
        _end_abandoned(ctx, job, JobStatus.CANCELED)
    elif job.attempts >= settings.max_attempts:
        reason = f"its recognition worker was lost {job.attempts} times"
        transcription.complete_without_recognition(ctx, job.id, expected=expired, reason=reason)
    elif run_db(ctx, repository.requeue_transcription, job.id,
                lease_seconds=settings.job_lease_seconds):  # fmt: skip
        ctx.enqueue_transcription(job.id, 0)
        logger.info("re-sent the speech recognition of job %s (attempt %d)", job.id, job.attempts)
    return 1
