"""The first message of a job's progress stream; `app.jobs.events.ProgressEvent` follow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.downloads.schemas import JobOut


class SnapshotEvent(BaseModel):
    type: Literal["snapshot"] = "snapshot"
    seq: int | None = Field(
        description="The job's stream position the snapshot stands at: the events after it "
        "follow. Null when events are unavailable (Redis down)."
    )
    job: JobOut
