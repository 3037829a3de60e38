"""Turns job rows into API bodies; file URLs depend on the storage backend."""

from __future__ import annotations

import re

from starlette.requests import HTTPConnection

from app.downloads.families import Family
from app.downloads.schemas import (
    COLLECTION_FIELDS,
    CollectionOptions,
    JobFileOut,
    JobOptions,
    JobOut,
    VideoMetadata,
)
from app.jobs.models import Job, JobFile, JobStatus, WaitingReason
from app.jobs.schemas import JobError
from app.storage.base import RemoteFile, StorageHandler, media_type_for
from app.transcripts.schemas import TranscriptSummary

_HTTP_SCHEME = {"ws": "http", "wss": "https"}

_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def download_filename(job: Job, stored: JobFile) -> str:
    """A readable attachment name from the title, stripped of anything a file system rejects
    ("Clip: 60fps / 4K" becomes "Clip 60fps 4K", one space wherever characters went)."""
    title = _UNSAFE_FILENAME.sub(" ", job.title or job.video_id or "download")
    base = " ".join(title.split()).strip(" .")[:150]
    extension = ".info.json" if stored.format == "json" else f".{stored.format}"
    language = f".{stored.language}" if stored.language else ""
    return f"{base or 'download'}{language}{extension}"


def media_type(stored: JobFile) -> str:
    return media_type_for(stored.format)


def present_job(
    job: Job,
    *,
    storage: StorageHandler,
    connection: HTTPConnection,
    family: Family | None = None,
    workers_alive: bool = True,
) -> JobOut:
    """The API body of a job; `connection` (a request or a WebSocket) gives the base URL.
    Parents need their `family` (`app.downloads.families.families`); `workers_alive` says
    whether any worker is up to run a queued job."""

    def file_url(stored: JobFile) -> str:
        location = storage.locate(
            stored.storage_key,
            filename=download_filename(job, stored),
            media_type=media_type(stored),
        )
        if isinstance(location, RemoteFile):
            return location.url
        url = connection.url_for("get_download_file", job_id=str(job.id), file_id=str(stored.id))
        return str(url.replace(scheme=_HTTP_SCHEME.get(url.scheme, url.scheme)))

    waiting = waiting_reason(job, workers_alive=workers_alive)
    progress = job.progress
    if family is not None and job.status is JobStatus.PROCESSING and family.counts.total:
        # Live: what the children say now, not what the parent recorded at its last settle.
        progress = family.progress
    return JobOut(
        job_id=job.id,
        kind=job.kind,
        parent_id=job.parent_id,
        position=job.position,
        url=job.url,
        status=job.status,
        priority=job.priority,
        stage=job.stage,
        progress=round(progress, 1),
        downloaded_bytes=job.downloaded_bytes,
        total_bytes=job.total_bytes,
        speed=job.speed,
        eta=job.eta,
        cancel_requested=job.cancel_requested,
        pause_requested=bool(job.pause_requested),
        paused_at=job.paused_at,
        options=JobOptions.model_validate(job.options),
        metadata=VideoMetadata(
            video_id=job.video_id,
            title=job.title,
            duration=job.duration,
            channel_name=job.channel_name,
            upload_date=job.upload_date,
        ),
        details={k: v for k, v in (job.details or {}).items() if k != "transcripts"},
        transcripts=TranscriptSummary.model_validate((job.details or {}).get("transcripts", {})),
        files=[
            JobFileOut.of(stored, url=file_url(stored), state=stored.state) for stored in job.files
        ],
        damaged_files=sum(stored.state.is_damaged for stored in job.files),
        # Only the options a client can set: a subscription's check keeps more there.
        collection=CollectionOptions.model_validate(
            {k: v for k, v in job.collection.items() if k in COLLECTION_FIELDS}
        )
        if job.kind.is_parent and job.collection
        else None,
        children=family.counts if family is not None else None,
        webhook_url=job.webhook_url,
        error=JobError.of(job.error_code, job.error_message),
        attempts=job.attempts,
        retries=job.retries,
        next_attempt_at=job.next_attempt_at,
        waiting_reason=waiting,
        # Known only when a worker put the job off (a backoff, a pause), not for a derived reason.
        retry_at=job.next_attempt_at
        if waiting is not None and waiting == job.waiting_reason
        else None,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
    )


def waiting_reason(job: Job, *, workers_alive: bool) -> WaitingReason | None:
    """Why a queued job is not running: no worker at all comes first (nothing runs until
    one starts), then what a worker noted when it put the job off, then a parent's cap
    (a held entry: its parent has not sent it to the workers yet)."""
    if job.status is not JobStatus.QUEUED:
        return None
    if not workers_alive:
        return WaitingReason.NO_WORKERS
    if job.waiting_reason is not None:
        return job.waiting_reason
    if job.parent_id is not None and job.dispatched_at is None:
        return WaitingReason.CONCURRENCY_CAP
    return None
