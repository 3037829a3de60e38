"""Response bodies of library search and the per-key stats."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from app.jobs.models import JobStatus


class TranscriptMatch(BaseModel):
    """A transcript cue holding one of the searched words: where to jump to in the video."""

    start: float = Field(description="Seconds from the start of the video.")
    end: float = Field(description="Seconds from the start of the video.")
    text: str
    language: str = Field(description="The transcript's language code.")


class LibraryItem(BaseModel):
    job_id: uuid.UUID
    video_id: str | None
    title: str
    channel: str
    url: str = Field(description="The URL the job downloaded.")
    completed_at: dt.datetime | None
    snippet: str = Field(
        description=(
            "An excerpt of the matching title, channel or transcript, HTML-escaped, with each "
            "matched word wrapped in <mark>…</mark> (on SQLite and PostgreSQL alike)."
        )
    )
    matches: list[TranscriptMatch] = Field(
        description="Up to 5 transcript cues, in transcript order, that contain a searched word "
        "(whole word, ignoring case and accents)."
    )


class LibraryPage(BaseModel):
    items: list[LibraryItem] = Field(description="Best matches first.")
    total: int = Field(description="Matching jobs in all pages.")
    limit: int
    offset: int


class KeyStats(BaseModel):
    """Figures for the calling key: every job row it owns, playlist children included."""

    jobs_by_status: dict[JobStatus, int] = Field(description="Every status, 0 when none.")
    total_jobs: int
    files_stored: int = Field(description="Files currently kept for the key's jobs.")
    bytes_stored: int = Field(description="Their total size in bytes.")
    library_entries: int = Field(description="Completed jobs that library search can find.")
