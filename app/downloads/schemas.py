"""Request and response bodies of the downloads API, and the values the worker applies."""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from yt_dlp.utils import PlaylistEntries

from app.core.config import TranscribeMode
from app.core.urls import HttpUrl
from app.jobs.models import FileState, JobKind, JobStage, JobStatus, Priority, WaitingReason
from app.jobs.schemas import ChildCounts, FileSummary, JobError
from app.transcripts.schemas import (
    DEFAULT_SUBTITLE_FORMATS,
    LANGUAGE_PATTERN,
    LanguageCode,
    SubtitleFormat,
    TranscriptSummary,
    check_language,
)

MAX_SUBTITLE_LANGUAGES = 20


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


class AudioFormat(enum.StrEnum):
    MP3 = "mp3"
    M4A = "m4a"
    WAV = "wav"
    FLAC = "flac"
    OPUS = "opus"

    @property
    def lossless(self) -> bool:
        return self in (AudioFormat.WAV, AudioFormat.FLAC)


ALL_LANGUAGES = "all"


def _unset_or(name: str, value: object) -> dict[str, Any]:
    return {"properties": {name: {"const": value}}}


_NULL: dict[str, Any] = {"type": "null"}
_LOSSY = [audio.value for audio in AudioFormat if not audio.lossless]
# `JobOptions._consistent` in JSON Schema, for OpenAPI: a request the schema allows is one
# the validator accepts. An absent property satisfies `properties`, as its default does.
_OPTION_RULES: list[dict[str, Any]] = [
    # audio_format and audio_quality need audio_only
    {
        "anyOf": [
            {"properties": {"audio_only": {"const": True}}, "required": ["audio_only"]},
            {"properties": {"audio_format": _NULL, "audio_quality": _NULL}},
        ]
    },
    # audio_quality does not apply to a lossless format
    {
        "anyOf": [
            {"properties": {"audio_quality": _NULL}},
            {"properties": {"audio_format": {"anyOf": [{"enum": _LOSSY}, _NULL]}}},
        ]
    },
    # transcript_only and audio_only exclude each other
    {"anyOf": [_unset_or("transcript_only", False), _unset_or("audio_only", False)]},
    # transcript_only needs include_transcription
    {"anyOf": [_unset_or("transcript_only", False), _unset_or("include_transcription", True)]},
    # transcribe (missing or always) needs include_transcription
    {
        "anyOf": [
            {
                "properties": {
                    "transcribe": {"anyOf": [{"enum": [TranscribeMode.NEVER.value]}, _NULL]}
                }
            },
            _unset_or("include_transcription", True),
        ]
    },
    # embed_subtitles needs a video download
    {
        "anyOf": [
            _unset_or("embed_subtitles", False),
            {"properties": {"audio_only": {"const": False}, "transcript_only": {"const": False}}},
        ]
    },
]


def _with_option_rules(schema: dict[str, Any]) -> None:
    schema["allOf"] = [*schema.get("allOf", []), *_OPTION_RULES]


class JobOptions(BaseModel):
    """Everything a client may choose; mapped to yt-dlp options in one place (the runner)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_with_option_rules)

    quality: Quality = Quality.BEST
    output_format: OutputFormat = OutputFormat.MP4
    audio_only: bool = False
    audio_format: AudioFormat | None = Field(
        default=None, description="With audio_only; m4a when not given."
    )
    audio_quality: int | None = Field(
        default=None, ge=32, le=512, description="Bitrate in kbit/s for lossy audio formats."
    )
    include_thumbnail: bool = True
    embed_metadata: bool = True
    embed_subtitles: bool = False

    include_transcription: bool = True
    transcript_only: bool = False
    subtitle_languages: list[str] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        max_length=MAX_SUBTITLE_LANGUAGES,
        description='Language codes, or "all" for every language the video has.',
        json_schema_extra={
            # "all" (itself shaped like a code) only alone
            "items": {"type": "string", "pattern": LANGUAGE_PATTERN},
            "anyOf": [{"maxItems": 1}, {"not": {"contains": {"const": ALL_LANGUAGES}}}],
        },
    )
    include_auto_captions: bool = True
    subtitle_formats: list[SubtitleFormat] = Field(
        default_factory=lambda: list(DEFAULT_SUBTITLE_FORMATS),
        min_length=1,
        max_length=len(SubtitleFormat),
        description="Transcript files to write per language (json holds word timings).",
    )
    drop_sound_labels: bool = Field(
        default=False,
        description="Leave sound labels such as [Music] out of the txt and md transcripts.",
    )
    translate_to: LanguageCode | None = None
    transcribe: TranscribeMode | None = Field(
        default=None,
        description="Speech recognition of the audio (when the server has it, ASR_ENABLED): "
        "never; missing, only when the captions give no transcript in the asked language; "
        "always, beside the captions too. Unset: the server's ASR_DEFAULT_TRANSCRIBE.",
    )

    @field_validator("subtitle_languages", mode="before")
    @classmethod
    def _all_or_codes(cls, value: object) -> object:
        return [ALL_LANGUAGES] if value == ALL_LANGUAGES else value

    @field_validator("subtitle_languages")
    @classmethod
    def _valid_languages(cls, value: list[str]) -> list[str]:
        if ALL_LANGUAGES in value:
            if len(value) > 1:
                raise ValueError('"all" cannot be combined with language codes')
            return value
        return list(dict.fromkeys(check_language(code) for code in value))

    @field_validator("subtitle_formats")
    @classmethod
    def _unique_formats(cls, value: list[SubtitleFormat]) -> list[SubtitleFormat]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> JobOptions:
        problems = []
        if not self.audio_only and (self.audio_format or self.audio_quality):
            problems.append("audio_format and audio_quality need audio_only")
        if self.audio_format and self.audio_format.lossless and self.audio_quality:
            problems.append(f"audio_quality does not apply to lossless {self.audio_format}")
        if self.transcript_only and self.audio_only:
            problems.append("transcript_only and audio_only exclude each other")
        if self.transcript_only and not self.include_transcription:
            problems.append("transcript_only needs include_transcription")
        if self.recognizes_speech and not self.include_transcription:
            problems.append("transcribe (missing or always) needs include_transcription")
        if self.embed_subtitles and (self.audio_only or self.transcript_only):
            problems.append("embed_subtitles needs a video download")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def wants_all_languages(self) -> bool:
        return self.subtitle_languages == [ALL_LANGUAGES]

    @property
    def effective_audio_format(self) -> AudioFormat:
        return self.audio_format or AudioFormat.M4A

    @property
    def downloads_media(self) -> bool:
        return not self.transcript_only

    @property
    def recognizes_speech(self) -> bool:
        """Whether the job may run speech recognition (its mode resolved at submission)."""
        return self.transcribe in (TranscribeMode.MISSING, TranscribeMode.ALWAYS)


def _check_playlist_items(value: str) -> str:
    value = value.replace(" ", "")
    try:
        list(PlaylistEntries.parse_playlist_items(value))
    except ValueError as exc:
        raise ValueError(f"not a playlist_items selection such as '1-5,8' or '-3:': {exc}") from exc
    return value


def _compact_date(value: object) -> object:
    """Accept yt-dlp's YYYYMMDD as well as an ISO date."""
    if isinstance(value, str) and re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


# yt-dlp's playlist_items syntax (PlaylistEntries.PLAYLIST_ITEMS_RE, no zero step), for
# OpenAPI; the validator asks yt-dlp itself.
_INT = "[+-]?[0-9]+"
_ITEM = f"{_INT}|({_INT})?[:-]({_INT}|inf|infinite)?(:[+-]?0*[1-9][0-9]*)?"
PLAYLIST_ITEMS_PATTERN = f"^({_ITEM})(,({_ITEM}))*$"
PlaylistItems = Annotated[
    str,
    Field(max_length=256, json_schema_extra={"pattern": PLAYLIST_ITEMS_PATTERN}),
    AfterValidator(_check_playlist_items),
]


class CollectionOptions(BaseModel):
    """How a playlist, channel or batch is expanded and run; only for those URLs."""

    model_config = ConfigDict(extra="forbid")

    playlist_items: PlaylistItems | None = Field(
        default=None,
        description='Entries by position, in yt-dlp\'s syntax: "1-5,8", "::2", "-3:".',
    )
    max_items: int | None = Field(
        default=None, ge=1, description="At most this many entries (capped by MAX_PLAYLIST_ITEMS)."
    )
    date_after: dt.date | None = Field(
        default=None, description="Only videos uploaded on or after this date (YYYY-MM-DD)."
    )
    date_before: dt.date | None = Field(
        default=None, description="Only videos uploaded on or before this date (YYYY-MM-DD)."
    )
    concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Entries downloading at once (PLAYLIST_CONCURRENCY by default, capped by "
        "MAX_PLAYLIST_CONCURRENCY).",
    )
    skip_existing: bool = Field(
        default=False,
        description="Skip videos this key already has completed with the same options.",
    )

    @field_validator("date_after", "date_before", mode="before")
    @classmethod
    def _dates(cls, value: object) -> object:
        return _compact_date(value)

    @property
    def dates_inverted(self) -> bool:
        """date_after later than date_before: the service refuses it (`invalid_options`),
        since no schema can compare two fields and the schema must be as strict as this."""
        return bool(self.date_after and self.date_before and self.date_after > self.date_before)


COLLECTION_FIELDS = frozenset(CollectionOptions.model_fields)
JOB_OPTION_FIELDS = frozenset(JobOptions.model_fields)
PRIORITY_DESCRIPTION = (
    "Which download queue the job waits in: workers take high before normal before low. "
    "A playlist's, channel's or batch's entries inherit it. A job waiting longer than "
    "PRIORITY_AGE_BOOST_MINUTES is raised one step."
)


class DownloadRequest(JobOptions, CollectionOptions):
    url: HttpUrl
    playlist: bool = Field(
        default=False,
        description="With a watch URL that has list=, download the whole playlist instead of "
        "the one video.",
    )
    webhook_url: HttpUrl | None = Field(
        default=None,
        description="POSTed a signed JSON event when the job ends (the key's default if unset).",
    )
    priority: Priority = Field(default=Priority.NORMAL, description=PRIORITY_DESCRIPTION)

    def job_options(self) -> JobOptions:
        return JobOptions.model_validate(self.model_dump(include=set(JOB_OPTION_FIELDS)))

    def collection_options(self) -> CollectionOptions:
        return CollectionOptions.model_validate(self.model_dump(include=set(COLLECTION_FIELDS)))

    @property
    def sets_collection_options(self) -> bool:
        """Whether a playlist option asks for something: an explicit default (such as
        `"skip_existing": false`) asks for nothing, so a single video accepts it."""
        defaults = CollectionOptions()
        return any(getattr(self, name) != getattr(defaults, name) for name in COLLECTION_FIELDS)


class BatchRequest(JobOptions, CollectionOptions):
    """Many URLs with shared options; each URL is checked on its own."""

    urls: list[str] = Field(
        min_length=1, description="Up to BATCH_MAX_URLS video, playlist or channel URLs."
    )
    playlist: bool = False
    webhook_url: HttpUrl | None = Field(
        default=None, description="Gets the batch's event when all its jobs have ended."
    )
    priority: Priority = Field(default=Priority.NORMAL, description=PRIORITY_DESCRIPTION)

    def job_options(self) -> JobOptions:
        return JobOptions.model_validate(self.model_dump(include=set(JOB_OPTION_FIELDS)))

    def collection_options(self) -> CollectionOptions:
        return CollectionOptions.model_validate(self.model_dump(include=set(COLLECTION_FIELDS)))


class JobFileOut(FileSummary):
    url: str
    state: FileState = Field(
        default=FileState.OK,
        description="ok, or what the last check found: corrupt (the bytes no longer match "
        "sha256) or missing (gone from storage). A damaged file is not served; retrying the "
        "job fetches it again.",
    )


class VideoMetadata(BaseModel):
    video_id: str | None = None
    title: str | None = None
    duration: float | None = None
    channel_name: str | None = None
    upload_date: str | None = None


class JobOut(BaseModel):
    job_id: uuid.UUID
    kind: JobKind = Field(
        description="video, or a parent: playlist, channel, batch or subscription_check (one "
        "check of a subscription, whose entries are the new uploads it found)."
    )
    parent_id: uuid.UUID | None = Field(description="The playlist, channel or batch job.")
    position: int | None = Field(description="The entry's position in its playlist (from 1).")
    url: str
    status: JobStatus
    priority: Priority = Field(
        description="The queue it waits in (low, normal, high): as asked, or raised after "
        "PRIORITY_AGE_BOOST_MINUTES of waiting.",
    )
    stage: JobStage | None
    progress: float
    downloaded_bytes: int | None
    total_bytes: int | None
    speed: float | None
    eta: int | None
    cancel_requested: bool
    pause_requested: bool = Field(
        default=False,
        description="A pause was asked of the running job; its worker stops it within "
        "seconds and the job becomes paused.",
    )
    paused_at: dt.datetime | None = Field(
        default=None,
        description="A paused job: when it was paused (its partial files are kept "
        "PAUSED_RETENTION_HOURS from then).",
    )
    options: JobOptions
    metadata: VideoMetadata
    details: dict[str, Any]
    transcripts: TranscriptSummary
    files: list[JobFileOut]
    damaged_files: int = Field(
        default=0,
        description="How many of the files are corrupt or missing. The job stays completed; "
        "POST .../retry re-fetches only those.",
    )
    collection: CollectionOptions | None = Field(
        description="Parents: how the playlist, channel or batch is run."
    )
    children: ChildCounts | None = Field(description="Parents: their jobs by status.")
    webhook_url: str | None
    error: JobError | None = Field(
        description="Why the job failed; while queued for a retry, the failure being retried."
    )
    attempts: int
    retries: int = Field(description="Transient failures retried so far.")
    next_attempt_at: dt.datetime | None
    waiting_reason: WaitingReason | None = Field(
        description="A queued job: why it is not running yet (see README, Waiting reasons)."
    )
    retry_at: dt.datetime | None = Field(
        description="A queued job put off by a worker: when it runs again."
    )
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


class BatchAccepted(BaseModel):
    index: int
    url: str
    job_id: uuid.UUID
    kind: JobKind


class BatchRejected(BaseModel):
    index: int
    url: str
    error: JobError


class BatchOut(BaseModel):
    batch_id: uuid.UUID | None = Field(
        description="The batch's parent job (progress, cancel, retry); null when none accepted."
    )
    accepted: list[BatchAccepted]
    rejected: list[BatchRejected]
    error: JobError | None = Field(
        default=None, description="Set (no_valid_urls) when no URL was accepted (HTTP 422)."
    )


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class DateWindow:
    """date_after / date_before of a channel or playlist, both inclusive."""

    after: dt.date | None = None
    before: dt.date | None = None

    @property
    def is_set(self) -> bool:
        return self.after is not None or self.before is not None

    def contains(self, day: dt.date) -> bool:
        return (self.after is None or day >= self.after) and (
            self.before is None or day <= self.before
        )

    def to_json(self) -> dict[str, Any] | None:
        """What a child keeps in its `collection` to check its exact upload date."""
        if not self.is_set:
            return None
        return {
            "date_after": self.after.isoformat() if self.after else None,
            "date_before": self.before.isoformat() if self.before else None,
        }

    @classmethod
    def from_json(cls, values: dict[str, Any] | None) -> DateWindow:
        values = values or {}
        after, before = values.get("date_after"), values.get("date_before")
        return cls(
            after=dt.date.fromisoformat(after) if after else None,
            before=dt.date.fromisoformat(before) if before else None,
        )


# The most jobs one bulk retry looks at: a call never enqueues more than this, and says
# when more match (call again).
BULK_RETRY_LIMIT = 100
MAX_ERROR_CODES = 50
ErrorCode = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
RetryableStatus = Literal["failed", "canceled"]


def _failed_and_canceled() -> list[RetryableStatus]:
    return ["failed", "canceled"]


class RetryFilter(BaseModel):
    """Which of the key's failed or canceled jobs a bulk retry takes. Without `parent_id`
    it takes the key's submissions (a playlist as one job: its failed entries run again),
    with it that family's entries."""

    model_config = ConfigDict(extra="forbid")

    status: list[RetryableStatus] = Field(
        default_factory=_failed_and_canceled,
        min_length=1,
        max_length=2,
        description="failed and/or canceled (default both).",
    )
    error_codes: list[ErrorCode] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ERROR_CODES,
        description="Only jobs with one of these codes (`canceled` names canceled jobs, "
        "`unknown` failed ones without a code), as GET /api/v1/downloads/failures groups them.",
    )
    created_since: dt.datetime | None = Field(
        default=None, description="Only jobs created at or after this time (UTC if no offset)."
    )
    parent_id: uuid.UUID | None = Field(
        default=None, description="The entries of this playlist, channel or batch of the key."
    )
    limit: int = Field(
        default=BULK_RETRY_LIMIT,
        ge=1,
        le=BULK_RETRY_LIMIT,
        description=f"At most this many jobs in this call (at most {BULK_RETRY_LIMIT}).",
    )

    @property
    def statuses(self) -> list[JobStatus]:
        return [JobStatus(value) for value in dict.fromkeys(self.status)]

    @property
    def since(self) -> dt.datetime | None:
        when = self.created_since
        if when is not None and when.tzinfo is None:
            return when.replace(tzinfo=dt.UTC)
        return when


class RetrySkipped(BaseModel):
    job_id: uuid.UUID
    error: JobError = Field(
        description="Why it was not retried (quota_exceeded, job_not_retryable)."
    )


class RetryOutcome(BaseModel):
    matched: int = Field(description="Jobs this call looked at (at most `limit`).")
    retried: int = Field(description="Jobs queued again (a playlist's entries run again under it).")
    not_retried: int = Field(description="Jobs that matched but could not be retried now.")
    retried_ids: list[uuid.UUID]
    skipped: list[RetrySkipped]
    more: bool = Field(description="More jobs match than this call took: call again.")
    limit: int


class FailureSample(BaseModel):
    job_id: uuid.UUID
    url: str
    title: str | None
    message: str | None
    at: dt.datetime = Field(description="When the job ended.")


class FailureGroupOut(BaseModel):
    code: str = Field(description="The error code; `canceled` and `unknown` as in RetryFilter.")
    count: int
    hint: str | None = Field(description="What to do about it, when there is advice.")
    sample: FailureSample = Field(description="The newest job of the group.")


class FailuresOut(BaseModel):
    total: int
    groups: list[FailureGroupOut]
