"""What housekeeping removes: files past FILE_RETENTION_HOURS, leftover work directories and
incomplete uploads."""

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
from app.downloads.families import worker_effects
from app.jobs.models import Job, JobStatus
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
