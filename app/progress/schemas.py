"""Events pushed to WebSocket clients: one snapshot, then progress, stage and status events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel

from app.downloads.models import JobStage, JobStatus
from app.downloads.schemas import JobError, JobOut


class ProgressEvent(BaseModel):
    """What the worker publishes and WebSocket clients receive after the snapshot."""

    type: Literal["progress", "stage", "status"]
    job_id: uuid.UUID
    status: JobStatus
    stage: JobStage | None
    progress: float
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed: float | None = None
    eta: int | None = None
    error: JobError | None = None
    at: dt.datetime


class SnapshotEvent(BaseModel):
    type: Literal["snapshot"] = "snapshot"
    job: JobOut


def status_event(
    job_id: uuid.UUID, status: JobStatus, progress: float, error: JobError | None = None
) -> ProgressEvent:
    """A status event built from what the database says (API-side cancels, lost events)."""
    return ProgressEvent(
        type="status",
        job_id=job_id,
        status=status,
        stage=None,
        progress=100.0 if status is JobStatus.COMPLETED else progress,
        error=error,
        at=dt.datetime.now(dt.UTC),
    )
