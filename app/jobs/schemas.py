"""How a job's parts read in every body that shows them: API answers, progress events and
webhook events."""

from __future__ import annotations

import uuid
from typing import Any, Self

from pydantic import BaseModel, Field

from app.jobs.models import FileKind, JobFile


class JobError(BaseModel):
    code: str
    message: str

    @classmethod
    def of(cls, code: str | None, message: str | None) -> JobError | None:
        """The error a row records, if any."""
        return cls(code=code, message=message or "") if code else None


class FileSummary(BaseModel):
    """A stored file as jobs and webhook events describe it."""

    id: uuid.UUID
    kind: FileKind
    language: str | None
    format: str
    size: int
    sha256: str

    @classmethod
    def of(cls, stored: JobFile, **extra: Any) -> Self:
        fields = {name: getattr(stored, name) for name in FileSummary.model_fields}
        return cls.model_validate({**fields, **extra})


class ChildCounts(BaseModel):
    """The children of a playlist, channel or batch, by status."""

    total: int = 0
    queued: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    paused: int = 0
    skipped: int = Field(
        default=0,
        description="Entries not turned into jobs: already downloaded (skip_existing) "
        "or outside date_after/date_before.",
    )
