"""What housekeeping removes: files past FILE_RETENTION_HOURS, paused jobs' partial files
past PAUSED_RETENTION_HOURS, leftover work directories and incomplete uploads."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import uuid
from pathlib import Path

from app.core.celery_app import HARD_LIMIT_MARGIN_SECONDS
from app.core.database import session_scope, utcnow
from app.downloads import repository
from app.downloads.endings import end_job
from app.downloads.families import has_children, resume_family, settle_parent, worker_effects
from app.jobs.models import Job, JobStatus
from app.jobs.schemas import JobError
from app.worker.context import WorkerContext, run_db

logger = logging.getLogger(__name__)

LEFTOVER_AGE = dt.timedelta(days=1)


def expire_old_files(ctx: WorkerContext) -> int:
    """Delete the files of jobs completed more than FILE_RETENTION_HOURS ago; mark them expired."""
    hours = ctx.settings.file_retention_hours
    if not hours:
        return 0
    with session_scope(ctx.sessions) as session:
        expired = repository.find_expired(session, cutoff=utcnow() - dt.timedelta(hours=hours))
    for job_id, keys in expired:
        _expire(ctx, job_id, keys)
    return len(expired)


def expire_jobs(ctx: WorkerContext, job_ids: list[uuid.UUID]) -> int:
    """Expire these jobs now, if completed, as FILE_RETENTION_HOURS would (a subscription's
    `keep_last`): their files are deleted, the rows stay as expired."""
    with session_scope(ctx.sessions) as session:
        found = repository.completed_files(session, job_ids)
    for job_id, keys in found:
        _expire(ctx, job_id, keys)
    return len(found)


def _expire(ctx: WorkerContext, job_id: uuid.UUID, keys: list[str]) -> None:
    # Storage first: if a delete fails the job still lists its files and is tried again.
    for key in keys:
        ctx.storage.delete(key)
    ctx.storage.delete_prefix(str(job_id))
    run_db(
        ctx,
        end_job,
        worker_effects(ctx),
        job_id,
        status=JobStatus.EXPIRED,
        expected=Job.status == JobStatus.COMPLETED,
    )
    logger.info("expired the %d files of job %s", len(keys), job_id)


def expire_paused(ctx: WorkerContext) -> int:
    """End the jobs paused more than PAUSED_RETENTION_HOURS ago: failed `paused_expired`,
    their partial files deleted with their work directory. A paused playlist whose entries
    have all ended so is reopened, and its settle ends it as its entries say. Returns how
    many jobs it ended or reopened."""
    hours = ctx.settings.paused_retention_hours
    if not hours:
        return 0
    cutoff = utcnow() - dt.timedelta(hours=hours)
    with session_scope(ctx.sessions) as session:
        paused = [(job.id, job.kind) for job in repository.paused_before(session, cutoff)]
    acted = 0
    # The entries first: a family's parent was paused before them.
    for job_id, kind in sorted(paused, key=lambda item: item[1].is_parent):
        if kind.is_parent and run_db(ctx, has_children, job_id):
            acted += _reopen_family(ctx, job_id)
            continue
        error = JobError(
            code="paused_expired",
            message=f"The job stayed paused longer than PAUSED_RETENTION_HOURS ({hours:g} h); "
            "its partial download was deleted.",
        )
        ended = run_db(
            ctx,
            end_job,
            worker_effects(ctx),
            job_id,
            status=JobStatus.FAILED,
            expected=Job.status == JobStatus.PAUSED,
            error=error,
            fields={"paused_at": None},
        )
        if ended is not None:
            acted += 1
            logger.info("job %s was paused past PAUSED_RETENTION_HOURS; ended", job_id)
    return acted


def _reopen_family(ctx: WorkerContext, parent_id: uuid.UUID) -> int:
    """Reopen a paused parent once none of its entries is paused or still stopping."""
    with session_scope(ctx.sessions) as session:
        if repository.family_pausing(session, parent_id):
            return 0
        resume_family(session, parent_id)
    settle_parent(ctx, parent_id)
    return 1


def _job_id(path: Path) -> uuid.UUID | None:
    try:
        return uuid.UUID(path.name)
    except ValueError:
        return None


def sweep_work_dir(ctx: WorkerContext) -> int:
    """Remove work directories and stray files (.part and friends) untouched for a day,
    unless a live worker still owns the job."""
    root = ctx.settings.work_dir
    if not root.is_dir():
        return 0
    cutoff = time.time() - LEFTOVER_AGE.total_seconds()
    stale = [entry for entry in root.iterdir() if _newest_mtime(entry) < cutoff]
    ids = [job_id for entry in stale if (job_id := _job_id(entry))]
    with session_scope(ctx.sessions) as session:
        in_use = repository.live_job_ids(session, ids, lease_seconds=ctx.settings.job_lease_seconds)
    removed = 0
    for entry in stale:
        if _job_id(entry) in in_use:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    if removed:
        logger.info("swept %d leftovers from %s", removed, root)
    return removed


def _newest_mtime(entry: Path) -> float:
    if entry.is_file():
        return entry.stat().st_mtime
    times = [p.stat().st_mtime for p in entry.rglob("*")]
    return max([entry.stat().st_mtime, *times])


def abort_incomplete_uploads(ctx: WorkerContext, older_than: dt.timedelta | None = None) -> int:
    """Abort uploads no running job can still own: older than the longest a task may live."""
    limit = dt.timedelta(seconds=ctx.settings.download_timeout + HARD_LIMIT_MARGIN_SECONDS)
    aborted = ctx.storage.abort_incomplete_uploads(limit if older_than is None else older_than)
    if aborted:
        logger.info("aborted %d incomplete uploads", aborted)
    return aborted
