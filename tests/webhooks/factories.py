"""Rows for the webhook tests: ended jobs, as a worker would have left them (through the
shared job factory of tests/support/factories.py), their files and their children."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.core.database import session_scope, utcnow
from app.jobs.models import FileKind, JobFile, JobKind, JobStatus
from tests.support.factories import create_job


def ended_job(
    sessions: sessionmaker[Session],
    *,
    api_key_id: uuid.UUID,
    webhook_url: str | None,
    status: JobStatus = JobStatus.COMPLETED,
    ago: dt.timedelta = dt.timedelta(seconds=1),
    **fields: Any,
) -> uuid.UUID:
    ended = utcnow() - ago
    return create_job(
        sessions,
        api_key_id=api_key_id,
        url="https://www.youtube.com/watch?v=aqz-KE-bpKQ",
        webhook_url=webhook_url,
        status=status,
        created_at=ended - dt.timedelta(seconds=30),
        completed_at=ended,
        **fields,
    )


def add_file(sessions: sessionmaker[Session], job_id: uuid.UUID, kind: FileKind, fmt: str) -> None:
    with session_scope(sessions) as session:
        session.add(
            JobFile(
                job_id=job_id,
                kind=kind,
                language="en" if kind is FileKind.SUBTITLE else None,
                format=fmt,
                size=1234,
                sha256="ab" * 32,
                storage_key=f"{job_id}/file.{fmt}",
            )
        )


def children(
    sessions: sessionmaker[Session], parent: uuid.UUID, api_key_id: uuid.UUID, *statuses: JobStatus
) -> None:
    for position, status in enumerate(statuses):
        ended_job(
            sessions,
            api_key_id=api_key_id,
            webhook_url=None,
            status=status,
            parent_id=parent,
            position=position,
            kind=JobKind.VIDEO,
        )
