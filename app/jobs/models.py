"""The job record: one row per download request (and per entry of a playlist, channel or
batch), with the files it stored. Every domain reads it; `app.downloads` changes it."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.database import Base, UTCDateTime, utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"  # completed, then its files were removed by FILE_RETENTION_HOURS
    # Stopped by its owner with its partial files kept in the work directory; resumed, it
    # is queued again and continues them (ended `paused_expired` after PAUSED_RETENTION_HOURS).
    PAUSED = "paused"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.EXPIRED}
)


class JobStage(enum.StrEnum):
    EXTRACTING = "extracting"
    DOWNLOADING = "downloading"
    POSTPROCESSING = "postprocessing"
    UPLOADING = "uploading"
    # Speech recognition of the stored media, on the transcription queue (VARCHAR(16) as
    # every stage, with no CHECK constraint: no migration needed).
    TRANSCRIBING = "transcribing"


class WaitingReason(enum.StrEnum):
    """Why a queued job is not running yet (a stable vocabulary: clients branch on it)."""

    RETRY_BACKOFF = "retry_backoff"  # a transient failure; retried at `next_attempt_at`
    YOUTUBE_PAUSED = "youtube_paused"  # HTTP 429 or a bot check paused YouTube work
    LOW_DISK = "low_disk"  # less than MIN_FREE_DISK_GB free on a worker
    CONCURRENCY_CAP = "concurrency_cap"  # its parent runs `concurrency` entries at a time
    NO_WORKERS = "no_workers"  # no worker is alive to run it


class Priority(enum.StrEnum):
    """Which download queue a job waits in: workers take high before normal before low."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def raised(self) -> Priority:
        """One step up (high stays high): what a job waiting too long is treated as."""
        return Priority.HIGH if self is not Priority.LOW else Priority.NORMAL


class JobKind(enum.StrEnum):
    VIDEO = "video"
    PLAYLIST = "playlist"  # a parent: expanded into one child job per entry
    CHANNEL = "channel"
    BATCH = "batch"  # a parent whose children are the accepted URLs of a batch request
    # A parent: one check of a subscription, whose children are the uploads it had not seen.
    SUBSCRIPTION_CHECK = "subscription_check"

    @property
    def is_parent(self) -> bool:
        return self is not JobKind.VIDEO


class FileKind(enum.StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    SUBTITLE = "subtitle"
    THUMBNAIL = "thumbnail"
    METADATA = "metadata"


class FileState(enum.StrEnum):
    """What the last check of a stored file found (the integrity scrub, or serving it)."""

    OK = "ok"
    CORRUPT = "corrupt"  # its bytes no longer match the recorded size and SHA-256
    MISSING = "missing"  # gone from storage

    @property
    def is_damaged(self) -> bool:
        return self is not FileState.OK


def _enum_column(enum_type: type[enum.StrEnum], length: int = 16) -> SAEnum:
    """Store an enum as its lowercase value in a VARCHAR, identically on every backend."""
    return SAEnum(
        enum_type,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


class Job(Base):
    """One download request. This row, not the broker message, is the truth about the job."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_created", "api_key_id", "created_at"),
        Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_jobs_owner_status", "api_key_id", "status"),
        Index("ix_jobs_parent_status", "parent_id", "status"),
        Index("ix_jobs_owner_video", "api_key_id", "video_id"),
        # A key's own submissions (parent_id NULL), for its quotas: counted from the index
        # alone, without reading a row.
        Index("ix_jobs_submissions_status", "api_key_id", "parent_id", "status"),
        Index("ix_jobs_submissions_created", "api_key_id", "parent_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[JobKind] = mapped_column(_enum_column(JobKind, 32), default=JobKind.VIDEO)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int | None] = mapped_column(Integer)  # the entry's place in its playlist
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # Parents: the playlist options (items, dates, concurrency...). Children of a channel:
    # the date window they must fall into.
    collection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The queue it waits in; raised one step by PRIORITY_AGE_BOOST_MINUTES of waiting.
    priority: Mapped[Priority] = mapped_column(
        _enum_column(Priority), default=Priority.NORMAL, server_default=Priority.NORMAL.value
    )

    status: Mapped[JobStatus] = mapped_column(_enum_column(JobStatus), default=JobStatus.QUEUED)
    stage: Mapped[JobStage | None] = mapped_column(_enum_column(JobStage))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    downloaded_bytes: Mapped[int | None] = mapped_column(BigInteger)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    speed: Mapped[float | None] = mapped_column(Float)
    eta: Mapped[int | None] = mapped_column(Integer)

    video_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    channel_name: Mapped[str | None] = mapped_column(Text)
    upload_date: Mapped[str | None] = mapped_column(String(10))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)

    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The owner asked to pause the running job: its worker stops at the next heartbeat.
    pause_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Transient failures (network, throttling) retried with backoff, and when the next is due.
    retries: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Why a worker put the queued job off until `next_attempt_at` (cleared when it runs).
    waiting_reason: Mapped[WaitingReason | None] = mapped_column(_enum_column(WaitingReason))
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    files: Mapped[list[JobFile]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        order_by="JobFile.created_at",
        lazy="selectin",
    )


class JobFile(Base):
    """One stored file of a job (video, audio, a subtitle track, the thumbnail, the info JSON)."""

    __tablename__ = "job_files"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FileKind] = mapped_column(_enum_column(FileKind))
    language: Mapped[str | None] = mapped_column(String(35))
    format: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(Text)
    state: Mapped[FileState] = mapped_column(
        _enum_column(FileState), default=FileState.OK, server_default=FileState.OK.value
    )
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # by the scrub
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[Job] = relationship(back_populates="files")
