"""Request and response bodies of the downloads API."""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.downloads.models import FileKind, JobStage, JobStatus

MAX_URL_LENGTH = 2048
MAX_SUBTITLE_LANGUAGES = 20
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")


class Quality(enum.StrEnum):
    BEST = "best"
    WORST = "worst"
    P2160 = "2160p"
    P1440 = "1440p"
    P1080 = "1080p"
    P720 = "720p"
    P480 = "480p"
    P360 = "360p"

    @property
    def max_height(self) -> int | None:
        return int(self.value[:-1]) if self.value.endswith("p") else None


class OutputFormat(enum.StrEnum):
    MP4 = "mp4"
    WEBM = "webm"
    MKV = "mkv"


def _check_url(value: str) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"malformed URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "must be an absolute http(s) URL, e.g. https://www.youtube.com/watch?v=..."
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    return value


HttpUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_check_url)]


class JobOptions(BaseModel):
    """Everything a client may choose; mapped to yt-dlp options in one place (the runner)."""

    model_config = ConfigDict(extra="forbid")

    quality: Quality = Quality.BEST
    audio_only: bool = False
    output_format: OutputFormat = OutputFormat.MP4
    include_transcription: bool = True
    subtitle_languages: list[str] = Field(
        default_factory=lambda: ["en"], max_length=MAX_SUBTITLE_LANGUAGES
    )
    include_thumbnail: bool = True

    @field_validator("subtitle_languages")
    @classmethod
    def _valid_languages(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _LANGUAGE.fullmatch(code):
                raise ValueError(f"{code!r} is not a language code such as 'en' or 'pt-BR'")
        return list(dict.fromkeys(value))


class DownloadRequest(JobOptions):
    url: HttpUrl

    def job_options(self) -> JobOptions:
        return JobOptions.model_validate(self.model_dump(exclude={"url"}))


class JobFileOut(BaseModel):
    id: uuid.UUID
    kind: FileKind
    language: str | None
    format: str
    size: int
    sha256: str
    url: str


class JobError(BaseModel):
    code: str
    message: str


class VideoMetadata(BaseModel):
    video_id: str | None = None
    title: str | None = None
    duration: float | None = None
    channel_name: str | None = None
    upload_date: str | None = None


class JobOut(BaseModel):
    job_id: uuid.UUID
    url: str
    status: JobStatus
    stage: JobStage | None
    progress: float
    downloaded_bytes: int | None
    total_bytes: int | None
    speed: float | None
    eta: int | None
    cancel_requested: bool
    options: JobOptions
    metadata: VideoMetadata
    details: dict[str, Any]
    files: list[JobFileOut]
    error: JobError | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int
