"""Delivering a job's terminal event: build the payload from the job row, sign it, POST it
to an address the egress policy approves, record the attempt, and schedule the next one.

Each attempt reloads the job first, so a redelivered message, a duplicate from the sweep or
a retry that outlived its event (the job was retried and ended again) sends nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.database import session_scope
from app.jobs.models import Job, JobStatus
from app.jobs.schemas import FileSummary, JobError
from app.security.addresses import AddressPolicy
from app.webhooks import repository
from app.webhooks.client import PostResult, post_checked
from app.webhooks.schemas import ChildCounts, EventJob, WebhookEvent, WebhookEventType
from app.webhooks.signing import SIGNATURE_HEADER, signature, webhook_secret

logger = logging.getLogger(__name__)

USER_AGENT = "yds-webhooks/1"
EVENT_TYPES = {
    JobStatus.COMPLETED: WebhookEventType.JOB_COMPLETED,
    JobStatus.FAILED: WebhookEventType.JOB_FAILED,
    JobStatus.CANCELED: WebhookEventType.JOB_CANCELED,
}
# A worker holds a delayed message, unacknowledged, until it is due. Past the broker's
# visibility timeout (750 s at the smallest DOWNLOAD_TIMEOUT) it would be handed out twice.
MAX_RETRY_DELAY_SECONDS = 600.0
# Event ids are uuid5 names in this namespace: the same for every attempt of one ending.
_EVENT_NAMESPACE = uuid.UUID("0b6f4f1e-8d0a-4c55-9a53-3f2d7c1e9b10")

# (job id, event id, next attempt number, delay in seconds)
ScheduleAttempt = Callable[[uuid.UUID, uuid.UUID, int, float], None]


@dataclass(frozen=True)
class DeliveryContext:
    settings: Settings
    sessions: sessionmaker[Session]
    server_secret: bytes
    schedule: ScheduleAttempt


@dataclass(frozen=True)
class _Prepared:
    url: str
    event: WebhookEvent
    body: bytes
    secret: str


def event_id(job_id: uuid.UUID, ended_at: dt.datetime) -> uuid.UUID:
    """The id of the event announcing the job's ending at `ended_at`."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{job_id}:{ended_at.isoformat()}")


def retry_delay(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt `attempt`: base * 2^(attempt-1) plus up to a
    quarter more as jitter (so a receiver coming back up is not hit by every retry at
    once), at most MAX_RETRY_DELAY_SECONDS."""
    delay = base * 2.0 ** (attempt - 1)
    return min(delay + random.uniform(0, delay / 4), MAX_RETRY_DELAY_SECONDS)


def deliver(
    ctx: DeliveryContext, job_id: uuid.UUID, *, event_id: uuid.UUID | None, attempt: int
) -> PostResult | None:
    """Make attempt number `attempt`; None when there is nothing (more) to send.

    `event_id` is None for the first attempt (the event is the job's current ending) and
    names the event for the retries.
    """
    with session_scope(ctx.sessions) as session:
        prepared = _prepare(session, ctx.server_secret, job_id, expected=event_id, attempt=attempt)
    if prepared is None:
        return None
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-YDS-Event": prepared.event.event.value,
        "X-YDS-Delivery": str(prepared.event.id),
        SIGNATURE_HEADER: signature(prepared.secret, prepared.body, timestamp),
    }
    result = post_checked(
        prepared.url,
        prepared.body,
        headers=headers,
        policy=AddressPolicy.from_settings(ctx.settings),
        timeout=ctx.settings.webhook_timeout_seconds,
    )
    with session_scope(ctx.sessions) as session:
        repository.record_attempt(
            session,
            job_id=job_id,
            event=prepared.event.event.value,
            attempt=attempt,
            status_code=result.status_code,
            error=result.error,
            delivered=result.delivered,
        )
    _follow_up(ctx, prepared.event, attempt, result)
    return result


def _prepare(
    session: Session,
    server_secret: bytes,
    job_id: uuid.UUID,
    *,
    expected: uuid.UUID | None,
    attempt: int,
) -> _Prepared | None:
    job = repository.get_job(session, job_id)
    if job is None or job.webhook_url is None:
        return None
    event_type = EVENT_TYPES.get(job.status)
    if event_type is None:
        return None  # running again after a retry, or expired: nothing to announce now
    ended_at = job.completed_at or job.updated_at
    current = event_id(job.id, ended_at)
    if expected is not None and expected != current:
        logger.info("dropped a webhook retry of job %s: the job has ended again since", job_id)
        return None
    earlier = repository.attempts_since(session, job.id, event=event_type, since=ended_at)
    if any(record.delivered or record.attempt == attempt for record in earlier):
        return None  # a redelivered message, or the sweep's duplicate of a late one
    event = build_event(session, job, event_type=event_type, ended_at=ended_at)
    return _Prepared(
        url=job.webhook_url,
        event=event,
        body=event.model_dump_json().encode(),
        secret=webhook_secret(server_secret, job.api_key_id),
    )


def build_event(
    session: Session, job: Job, *, event_type: WebhookEventType, ended_at: dt.datetime
) -> WebhookEvent:
    """The payload announcing that `job` ended."""
    return WebhookEvent(
        id=event_id(job.id, ended_at),
        event=event_type,
        created_at=ended_at,
        job=EventJob(
            job_id=job.id,
            kind=job.kind,
            parent_id=job.parent_id,
            status=job.status,
            url=job.url,
            video_id=job.video_id,
            title=job.title,
            channel=job.channel_name,
            error=JobError.of(job.error_code, job.error_message),
            files=[FileSummary.of(stored) for stored in job.files],
            children=_children(session, job) if job.kind.is_parent else None,
            completed_at=ended_at,
        ),
    )


def _children(session: Session, job: Job) -> ChildCounts:
    counts = repository.children_by_status(session, job.id)
    return ChildCounts(
        total=sum(counts.values()),
        completed=counts.get(JobStatus.COMPLETED, 0),
        failed=counts.get(JobStatus.FAILED, 0),
        canceled=counts.get(JobStatus.CANCELED, 0),
    )


def _follow_up(ctx: DeliveryContext, event: WebhookEvent, attempt: int, result: PostResult) -> None:
    job_id = event.job.job_id
    if result.delivered:
        logger.info("delivered %s of job %s (attempt %d)", event.event, job_id, attempt)
        return
    settings = ctx.settings
    if attempt >= settings.webhook_max_attempts:
        logger.warning(
            "gave up delivering %s of job %s after %d attempts: %s",
            event.event,
            job_id,
            attempt,
            result.error,
        )
        return
    delay = retry_delay(attempt, settings.webhook_retry_backoff_seconds)
    logger.info(
        "webhook attempt %d for job %s failed (%s); next in %.1f s",
        attempt,
        job_id,
        result.error,
        delay,
    )
    ctx.schedule(job_id, event.id, attempt + 1, delay)
