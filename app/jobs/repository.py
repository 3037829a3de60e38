"""Queries of the job record that every domain shares, written once against a sync Session:
workers call them directly, the API through `AsyncSession.run_sync`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.database import changed_rows, utcnow
from app.jobs.models import TERMINAL_STATUSES, FileState, Job, JobFile, JobStatus


@dataclass(frozen=True)
class FileToCheck:
    id: uuid.UUID
    job_id: uuid.UUID
    storage_key: str
    size: int
    sha256: str
    state: FileState


def update_jobs(session: Session, *where: ColumnElement[bool], **values: Any) -> int:
    """Set `values` on the jobs matching `where`; how many rows changed."""
    statement = update(Job).where(*where).values({"updated_at": utcnow(), **values})
    return changed_rows(session, statement)


def compare_and_set(
    session: Session, job_id: uuid.UUID, *expected: ColumnElement[bool], **values: Any
) -> bool:
    """Set `values` on the job only while it is as `expected`, in one UPDATE; whether it was.

    This is how a job changes hands safely: a claim, a lease renewal, an ending. Two
    processes racing for the same change see exactly one of them win.
    """
    return update_jobs(session, Job.id == job_id, *expected, **values) == 1


def add_files(session: Session, job_id: uuid.UUID, files: Sequence[JobFile]) -> None:
    """Record `files` as the job's; one stored again under a key the job lists (a retry of
    a damaged file) replaces that row."""
    now = utcnow()
    for stored in files:
        stored.job_id, stored.created_at = job_id, now
    if files:
        keys = [stored.storage_key for stored in files]
        session.execute(
            delete(JobFile).where(JobFile.job_id == job_id, JobFile.storage_key.in_(keys))
        )
    session.add_all(files)


def get_job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.get(Job, job_id, populate_existing=True)


def get_owned_job(session: Session, job_id: uuid.UUID, api_key_id: uuid.UUID) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.api_key_id == api_key_id))


def count_by_status(session: Session) -> dict[JobStatus, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {JobStatus(status): count for status, count in rows}


def count_damaged_files(session: Session) -> dict[FileState, int]:
    """Stored files whose last check found them corrupt or missing, by state (zeros too)."""
    rows = session.execute(
        select(JobFile.state, func.count())
        .where(JobFile.state != FileState.OK)
        .group_by(JobFile.state)
    ).all()
    found = {FileState(state): count for state, count in rows}
    return {state: found.get(state, 0) for state in FileState if state.is_damaged}


def set_file_state(session: Session, file_id: uuid.UUID, state: FileState, *, sha256: str) -> bool:
    """Record what a check of the file found; only while the row still describes the same
    content (`sha256`), so a check that raced a re-fetch does not mark the new copy."""
    statement = (
        update(JobFile)
        .where(JobFile.id == file_id, JobFile.sha256 == sha256, JobFile.state != state)
        .values(state=state)
    )
    return changed_rows(session, statement) == 1


def record_check(session: Session, file_id: uuid.UUID, state: FileState, *, sha256: str) -> None:
    """What the scrub found, and when (under the same condition as `set_file_state`)."""
    statement = (
        update(JobFile)
        .where(JobFile.id == file_id, JobFile.sha256 == sha256)
        .values(state=state, checked_at=utcnow())
    )
    changed_rows(session, statement)


def files_to_check(
    session: Session, *, not_checked_since: dt.datetime, limit: int
) -> list[FileToCheck]:
    """Files of ended jobs not checked since `not_checked_since`, the longest unchecked
    first (a run cut short resumes where the previous one stopped)."""
    rows = session.execute(
        select(
            JobFile.id,
            JobFile.job_id,
            JobFile.storage_key,
            JobFile.size,
            JobFile.sha256,
            JobFile.state,
        )
        .join(Job, Job.id == JobFile.job_id)
        .where(
            Job.status.in_(TERMINAL_STATUSES),
            or_(JobFile.checked_at.is_(None), JobFile.checked_at < not_checked_since),
        )
        .order_by(JobFile.checked_at.is_not(None), JobFile.checked_at, JobFile.id)
        .limit(limit)
    ).all()
    return [
        FileToCheck(
            id=row.id,
            job_id=row.job_id,
            storage_key=row.storage_key,
            size=row.size,
            sha256=row.sha256,
            state=FileState(row.state),
        )
        for row in rows
    ]
