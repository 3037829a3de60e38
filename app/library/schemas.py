"""Response bodies of library search, the per-key stats and their time series."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from app.jobs.models import JobStatus
from app.library.trends import Bucket


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


class TrendFigures(BaseModel):
    """What happened in one bucket (or, as `totals`, in the whole window)."""

    created: int = Field(description="Jobs created (playlist entries and parents count one each).")
    completed: int = Field(
        description="Jobs that completed, by their completion time (those since expired too)."
    )
    failed: int = Field(description="Jobs that failed, by the time they failed.")
    failed_by_code: dict[str, int] = Field(
        description="The failed jobs by error code (the error table's codes); only codes seen."
    )
    bytes_stored: int = Field(
        description="The size of the files still kept for the jobs that completed here "
        "(0 for a job whose files expired)."
    )
    median_speed: float | None = Field(
        description="Bytes a second: the median over the videos that completed here of their "
        "downloaded bytes over their run time; null when none."
    )
    median_duration: float | None = Field(
        description="Seconds: the median run time (first start by a worker to completion) of "
        "the videos that completed here; null when none."
    )


class TrendBucket(TrendFigures):
    start: dt.datetime = Field(description="The bucket's start (UTC); it lasts one `bucket`.")


class Timeseries(BaseModel):
    """The key's jobs over time, in UTC buckets with no gaps (an empty bucket is all zeros)."""

    bucket: Bucket
    start: dt.datetime = Field(description="The first bucket's start: `from` rounded down.")
    end: dt.datetime = Field(
        description="The end of the last bucket (exclusive): the bucket holding `to` is whole."
    )
    all_keys: bool = Field(description="True when the figures are of every key (admin).")
    buckets: list[TrendBucket]
    totals: TrendFigures
