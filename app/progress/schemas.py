"""Events pushed to WebSocket clients: one snapshot, then progress, stage and status events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from app.downloads.models import JobStage, JobStatus
from app.downloads.schemas import ChildCounts, JobError, JobOut


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
    at: dt.datetime


class SnapshotEvent(BaseModel):
    type: Literal["snapshot"] = "snapshot"
    job: JobOut


def status_event(
    job_id: uuid.UUID,
    status: JobStatus,
    progress: float,
    error: JobError | None = None,
    *,
    parent_id: uuid.UUID | None = None,
) -> ProgressEvent:
    """A status event built from what the database says (API-side cancels, lost events)."""
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
