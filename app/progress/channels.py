"""Redis names and encoding for job events, shared by the worker and the API."""

from __future__ import annotations

import uuid

from app.progress.schemas import ProgressEvent

LATEST_TTL_SECONDS = 3600


def events_channel(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:events"


def latest_key(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:latest"


def encode(event: ProgressEvent) -> str:
    return event.model_dump_json()


def decode(raw: str | bytes) -> ProgressEvent:
    return ProgressEvent.model_validate_json(raw)
