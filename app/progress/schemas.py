"""The first message of a job's WebSocket stream; `app.jobs.events.ProgressEvent` follow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from app.downloads.schemas import JobOut


class SnapshotEvent(BaseModel):
    type: Literal["snapshot"] = "snapshot"
    job: JobOut
