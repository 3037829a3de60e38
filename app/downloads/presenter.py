"""Turns job rows into API bodies; file URLs depend on the storage backend."""

from __future__ import annotations

import re

from starlette.requests import HTTPConnection

from app.downloads.models import Job, JobFile
from app.downloads.schemas import (
    JobError,
    JobFileOut,
    JobOptions,
    JobOut,
    TranscriptSummary,
    VideoMetadata,
)
from app.storage.base import RemoteFile, StorageHandler, media_type_for

_HTTP_SCHEME = {"ws": "http", "wss": "https"}

_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def download_filename(job: Job, stored: JobFile) -> str:
    """A readable attachment name from the title, stripped of anything a file system rejects."""
    base = _UNSAFE_FILENAME.sub(" ", job.title or job.video_id or "download").strip(" .")[:150]
    extension = ".info.json" if stored.format == "json" else f".{stored.format}"
    language = f".{stored.language}" if stored.language else ""
    return f"{base or 'download'}{language}{extension}"


def media_type(stored: JobFile) -> str:
    return media_type_for(stored.format)


def present_job(job: Job, *, storage: StorageHandler, connection: HTTPConnection) -> JobOut:
    """The API body of a job; `connection` (a request or a WebSocket) gives the base URL."""

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

    return JobOut(
        job_id=job.id,
        url=job.url,
        status=job.status,
        stage=job.stage,
        progress=round(job.progress, 1),
        downloaded_bytes=job.downloaded_bytes,
        total_bytes=job.total_bytes,
        speed=job.speed,
        eta=job.eta,
        cancel_requested=job.cancel_requested,
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
            JobFileOut(
                id=f.id,
                kind=f.kind,
                language=f.language,
                format=f.format,
                size=f.size,
                sha256=f.sha256,
                url=file_url(f),
            )
            for f in job.files
        ],
        error=JobError(code=job.error_code, message=job.error_message or "")
        if job.error_code
        else None,
        attempts=job.attempts,
        retries=job.retries,
        next_attempt_at=job.next_attempt_at,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
    )
