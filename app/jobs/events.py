"""A job's live events: what workers and the API publish when a job moves, and what
WebSocket clients receive after the snapshot. Published to a Redis channel per job (a
child's also to its parent's) plus a "latest" key; the row stays the truth, so publishing
is best effort."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Literal

import redis
from pydantic import BaseModel, Field

from app.jobs.models import JobStage, JobStatus, WaitingReason
from app.jobs.schemas import ChildCounts, JobError

logger = logging.getLogger(__name__)

LATEST_TTL_SECONDS = 3600


class ProgressEvent(BaseModel):
    """What the worker publishes and WebSocket clients receive after the snapshot."""

    type: Literal["progress", "stage", "status", "aggregate"]
    job_id: uuid.UUID
    parent_id: uuid.UUID | None = Field(
        default=None, description="Set on a child's events, also sent to its parent's stream."
    )
    status: JobStatus
    stage: JobStage | None
    progress: float
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed: float | None = None
    eta: int | None = None
    error: JobError | None = None
    children: ChildCounts | None = Field(
        default=None, description="Aggregate events of a parent: its children by status."
    )
    waiting_reason: WaitingReason | None = Field(
        default=None, description="A queued job's status event: why it waits."
    )
    retry_at: dt.datetime | None = Field(
        default=None, description="A queued job's status event: when it runs again, if known."
    )
    at: dt.datetime


def status_event(
    job_id: uuid.UUID,
    status: JobStatus,
    progress: float,
    error: JobError | None = None,
    *,
    parent_id: uuid.UUID | None = None,
) -> ProgressEvent:
    """A status event built from what the database says (an ending, a lost event)."""
    return ProgressEvent(
        type="status",
        job_id=job_id,
        parent_id=parent_id,
        status=status,
        stage=None,
        progress=100.0 if status is JobStatus.COMPLETED else progress,
        error=error,
        at=dt.datetime.now(dt.UTC),
    )


def events_channel(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:events"


def latest_key(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:latest"


def decode(raw: str | bytes) -> ProgressEvent:
    return ProgressEvent.model_validate_json(raw)


def publish(client: redis.Redis, event: ProgressEvent) -> None:
    payload = event.model_dump_json()
    try:
        pipe = client.pipeline(transaction=False)
        pipe.set(latest_key(event.job_id), payload, ex=LATEST_TTL_SECONDS)
        pipe.publish(events_channel(event.job_id), payload)
        if event.parent_id is not None:
            # A playlist's stream carries its children's events too.
            pipe.publish(events_channel(event.parent_id), payload)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not publish job event: %s", exc)
