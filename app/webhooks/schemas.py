"""Bodies of the webhooks API, and the JSON payload every delivery carries."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.urls import HttpUrl
from app.jobs.models import JobKind, JobStatus
from app.jobs.schemas import FileSummary, JobError


class WebhookEventType(enum.StrEnum):
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELED = "job.canceled"


class WebhookSettings(BaseModel):
    """What a receiver needs: where events go by default and how to check their signature."""

    default_url: str | None = Field(
        description="Where events of this key's jobs go when a job names no webhook_url."
    )
    secret: str = Field(description="HMAC key for X-YDS-Signature (the whole whsec_ string).")
    signature_header: Literal["X-YDS-Signature"] = "X-YDS-Signature"
    algorithm: Literal["HMAC-SHA256"] = "HMAC-SHA256"


class WebhookSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_url: HttpUrl | None = Field(description="An absolute http(s) URL, or null to clear.")


class WebhookDeliveryOut(BaseModel):
    """One attempt to deliver a job's event."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event: str
    attempt: int
    status_code: int | None = Field(description="The receiver's HTTP status; null if none came.")
    error: str | None
    delivered: bool
    created_at: dt.datetime


class ChildCounts(BaseModel):
    """How the children of a playlist, channel or batch ended."""

    total: int
    completed: int
    failed: int
    canceled: int


class EventJob(BaseModel):
    job_id: uuid.UUID
    kind: JobKind
    parent_id: uuid.UUID | None
    status: JobStatus
    url: str
    video_id: str | None
    title: str | None
    channel: str | None
    error: JobError | None
    files: list[FileSummary]
    children: ChildCounts | None
    completed_at: dt.datetime


class WebhookEvent(BaseModel):
    """The body POSTed to a webhook. `id` stays the same across retries of one delivery."""

    id: uuid.UUID
    event: WebhookEventType
    created_at: dt.datetime
    job: EventJob
