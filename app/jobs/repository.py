"""Queries of the job record that every domain shares, written once against a sync Session:
workers call them directly, the API through `AsyncSession.run_sync`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from app.core.database import changed_rows, utcnow
from app.jobs.models import Job, JobStatus


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


def get_job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.get(Job, job_id, populate_existing=True)


def get_owned_job(session: Session, job_id: uuid.UUID, api_key_id: uuid.UUID) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.api_key_id == api_key_id))


def count_by_status(session: Session) -> dict[JobStatus, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {JobStatus(status): count for status, count in rows}
