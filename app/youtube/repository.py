from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import YOUTUBE_HOSTS
from app.jobs.models import Job, JobKind, JobStatus

# Failed jobs and jobs waiting to retry after a failure both carry an error code.
_WITH_ERRORS = (JobStatus.FAILED, JobStatus.QUEUED)
_SCAN = 500  # rows read to find the YouTube ones among the latest failures


@dataclass(frozen=True)
class RecentFailure:
    code: str
    message: str | None
    at: dt.datetime


def recent_youtube_failures(session: Session, *, limit: int) -> list[RecentFailure]:
    """The latest `limit` failures of video jobs on YouTube, newest first, across keys."""
    rows = session.execute(
        select(Job.url, Job.error_code, Job.error_message, Job.updated_at)
        .where(
            Job.kind == JobKind.VIDEO,
            Job.status.in_(_WITH_ERRORS),
            Job.error_code.is_not(None),
        )
        .order_by(Job.updated_at.desc())
        .limit(_SCAN)
    ).all()
    failures = [
        RecentFailure(code=code, message=message, at=at)
        for url, code, message, at in rows
        if code is not None and _is_youtube(url)
    ]
    return failures[:limit]


def _is_youtube(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in YOUTUBE_HOSTS
