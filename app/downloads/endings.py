"""The one place a job ends.

Every terminal transition (completed; failed, worker_lost included; canceled; expired) is a
compare-and-set in `end_job`, written in the caller's transaction together with what must
be true at the same moment: the files a completed job stored and its library entry, or the
removal of an expired job's files and entry. Everything that follows an ending runs from
`announce`, once, after that transaction commits:

| ending    | metrics | status event | webhook | parent's settle | work directory |
|-----------|---------|--------------|---------|-----------------|----------------|
| completed | yes     | yes          | yes     | yes             | removed        |
| failed    | yes     | yes          | yes     | yes             | removed        |
| canceled  | yes     | yes          | yes     | yes             | removed        |
| expired   | -       | -            | -       | -               | -              |

(an expired job completed long ago: its parent has settled and its webhook has fired).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from app.core.database import after_commit, utcnow
from app.jobs import events
from app.jobs.models import Job, JobFile, JobKind, JobStatus
from app.jobs.repository import add_files, compare_and_set
from app.jobs.schemas import JobError
from app.library.indexing import index_job, remove_entries
from app.metrics import definitions as m
from app.metrics.service import Increments
from app.transcripts.cues import Cue
from app.webhooks.notify import notify_job_ended
from app.worker.dispatch import Enqueue

logger = logging.getLogger(__name__)


EndingHook = Callable[[Session, "JobEffects", uuid.UUID, JobStatus], None]
# What must change with the end of a job of these kinds, in the same transaction (a
# subscription's check: its archive and state); registered by the package owning the kind.
ENDING_HOOKS: dict[JobKind, EndingHook] = {}


@dataclass(frozen=True)
class JobEffects:
    """How this process carries out what follows a job's change (one per process: a
    worker settles a parent itself, the API asks a worker to)."""

    redis: redis.Redis
    enqueue: Enqueue
    settle_parent: Callable[[uuid.UUID], None]
    work_dir: Path


@dataclass(frozen=True)
class RunFigures:
    """What a worker's run of the job measured, for the metrics."""

    duration: float
    downloaded_bytes: int
    stored_bytes: int


@dataclass(frozen=True)
class Ending:
    job_id: uuid.UUID
    status: JobStatus
    error: JobError | None
    progress: float
    downloaded_bytes: int | None
    total_bytes: int | None
    parent_id: uuid.UUID | None
    has_webhook: bool
    settles_parent: bool
    run: RunFigures | None
    kind: JobKind = JobKind.VIDEO


def end_job(
    session: Session,
    effects: JobEffects,
    job_id: uuid.UUID,
    *,
    status: JobStatus,
    expected: ColumnElement[bool],
    error: JobError | None = None,
    fields: dict[str, Any] | None = None,
    files: Sequence[JobFile] = (),
    transcripts: dict[str, list[Cue]] | None = None,
    run: RunFigures | None = None,
    settles_parent: bool = True,
) -> Ending | None:
    """End the job while it is as `expected`; None when it is not (another process changed
    it first: nothing is written and nothing announced).

    `settles_parent=False` when the caller is settling the parent in this transaction.
    """
    values: dict[str, Any] = {"status": status, **(fields or {})}
    if status is not JobStatus.EXPIRED:
        values |= {"stage": None, "worker_id": None, "speed": None, "eta": None}
        values.setdefault("completed_at", utcnow())
    if error is not None:
        values |= {"error_code": error.code, "error_message": error.message}
    if not compare_and_set(session, job_id, expected, **values):
        return None
    add_files(session, job_id, files)
    if status is JobStatus.COMPLETED:
        index_job(session, job_id, transcripts or {})
    elif status is JobStatus.EXPIRED:
        remove_entries(session, [job_id])
        session.execute(delete(JobFile).where(JobFile.job_id == job_id))
    ending = _ending(session, job_id, status, run=run, settles_parent=settles_parent)
    hook = ENDING_HOOKS.get(ending.kind)
    if hook is not None:
        hook(session, effects, job_id, status)
    if status is not JobStatus.EXPIRED:
        after_commit(session, lambda: announce(effects, ending))
    return ending


def worker_lost(times: int, last: JobError | None) -> JobError:
    """The error of a job given up because its workers died `times` times; a transient
    failure recorded before (a retry's cause) stays visible, since it may be why."""
    message = f"The job's worker was lost {times} times; giving up."
    if last is not None:
        message += f" The last error before that was {last.code}: {last.message}"
    return JobError(code="worker_lost", message=message)


def _ending(
    session: Session,
    job_id: uuid.UUID,
    status: JobStatus,
    *,
    run: RunFigures | None,
    settles_parent: bool,
) -> Ending:
    row = session.execute(
        select(
            Job.error_code,
            Job.error_message,
            Job.progress,
            Job.downloaded_bytes,
            Job.total_bytes,
            Job.parent_id,
            Job.webhook_url,
            Job.kind,
        ).where(Job.id == job_id)
    ).one()
    return Ending(
        job_id=job_id,
        status=status,
        error=JobError.of(row.error_code, row.error_message),
        progress=row.progress,
        downloaded_bytes=row.downloaded_bytes,
        total_bytes=row.total_bytes,
        parent_id=row.parent_id,
        has_webhook=row.webhook_url is not None,
        settles_parent=settles_parent,
        run=run,
        kind=row.kind,
    )


def announce(effects: JobEffects, ending: Ending) -> None:
    """Everything that follows a committed ending, each once."""
    logger.info("job %s ended %s", ending.job_id, ending.status)
    # Counted before the event goes out: whoever reacts to it sees the metrics.
    _record_metrics(effects.redis, ending)
    events.publish(effects.redis, _status_event(ending))
    if ending.has_webhook:
        try:
            notify_job_ended(ending.job_id)
        except Exception:
            # The periodic sweep sends what could not be queued now.
            logger.exception("could not queue the webhook of job %s", ending.job_id)
    if ending.parent_id is not None and ending.settles_parent:
        effects.settle_parent(ending.parent_id)
    shutil.rmtree(effects.work_dir / str(ending.job_id), ignore_errors=True)


def _status_event(ending: Ending) -> events.ProgressEvent:
    event = events.status_event(
        ending.job_id, ending.status, ending.progress, ending.error, parent_id=ending.parent_id
    )
    return event.model_copy(
        update={"downloaded_bytes": ending.downloaded_bytes, "total_bytes": ending.total_bytes}
    )


def _record_metrics(client: redis.Redis, ending: Ending) -> None:
    increments = Increments()
    if ending.status is JobStatus.COMPLETED:
        increments.count(m.JOBS_COMPLETED)
    elif ending.status is JobStatus.FAILED:
        error_code = ending.error.code if ending.error else "unknown"
        increments.count(m.JOBS_FAILED, {"error_code": error_code})
    elif ending.status is JobStatus.CANCELED:
        increments.count(m.JOBS_CANCELED)
    if ending.run is not None:
        increments.observe(m.JOB_DURATION, ending.run.duration, {"status": ending.status.value})
        increments.count(m.DOWNLOADED_BYTES, amount=ending.run.downloaded_bytes)
        increments.count(m.STORED_BYTES, amount=ending.run.stored_bytes)
    increments.flush(client)


def record_retry(client: redis.Redis, error_code: str) -> None:
    """A transient failure retried later (not an ending; counted beside them)."""
    increments = Increments()
    increments.count(m.JOB_RETRIES, {"error_code": error_code})
    increments.flush(client)
