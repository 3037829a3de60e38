"""Webhook queries, written once against a sync Session: the delivery task calls them
directly, the API through `AsyncSession.run_sync`, so no query is written twice."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from app.core.database import utcnow
from app.jobs.models import Job, JobStatus
from app.webhooks.models import WebhookDelivery

ENDED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    delivered: bool


def get_job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.get(Job, job_id, populate_existing=True)


def children_by_status(session: Session, parent_id: uuid.UUID) -> dict[JobStatus, int]:
    rows = session.execute(
        select(Job.status, func.count()).where(Job.parent_id == parent_id).group_by(Job.status)
    ).all()
    return {status: count for status, count in rows}


def attempts_since(
    session: Session, job_id: uuid.UUID, *, event: str, since: dt.datetime
) -> list[AttemptRecord]:
    """The attempts recorded for the job's event since it ended (earlier endings of a
    retried job are older than `since`)."""
    rows = session.execute(
        select(WebhookDelivery.attempt, WebhookDelivery.delivered).where(
            WebhookDelivery.job_id == job_id,
            WebhookDelivery.event == event,
            WebhookDelivery.created_at >= since,
        )
    ).all()
    return [AttemptRecord(row.attempt, row.delivered) for row in rows]


def record_attempt(
    session: Session,
    *,
    job_id: uuid.UUID,
    event: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    delivered: bool,
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        job_id=job_id,
        event=event,
        attempt=attempt,
        status_code=status_code,
        error=error,
        delivered=delivered,
        created_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    return delivery


def list_deliveries(session: Session, job_id: uuid.UUID) -> Sequence[WebhookDelivery]:
    return session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.job_id == job_id)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.attempt, WebhookDelivery.id)
    ).all()


def find_unnotified(
    session: Session, *, ended_after: dt.datetime, ended_before: dt.datetime, limit: int
) -> list[uuid.UUID]:
    """Jobs with a webhook that ended in the window and have no delivery attempt since."""
    attempted = exists().where(
        WebhookDelivery.job_id == Job.id, WebhookDelivery.created_at >= Job.completed_at
    )
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.status.in_(ENDED_STATUSES),
                Job.webhook_url.is_not(None),
                and_(Job.completed_at >= ended_after, Job.completed_at < ended_before),
                ~attempted,
            )
            .order_by(Job.completed_at)
            .limit(limit)
        )
    )
