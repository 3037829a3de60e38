"""Request and response bodies of the subscriptions API."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.config import Settings
from app.downloads.schemas import PRIORITY_DESCRIPTION, JobOptions
from app.jobs.models import Priority
from app.jobs.schemas import JobError
from app.subscriptions.models import ChannelTab, FeedMedia, SubscriptionKind

# An age: up to 9999 days, weeks or months, or 999 years (so the date stays after year 1).
AGE_PATTERN = "^([0-9]{1,4} ?(day|week|month)s?|[0-9]{1,3} ?years?)$"
_RELATIVE = re.compile(r"(?P<count>[0-9]{1,4}) ?(?P<unit>day|week|month|year)s?")
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
MAX_NAME_CHARS = 200
# What OpenAPI shows as the interval's minimum: the setting's default (the service checks
# the server's own SUBSCRIPTION_MIN_INTERVAL_MINUTES).
DEFAULT_MIN_INTERVAL: int = Settings.model_fields["subscription_min_interval_minutes"].default
# Longer patterns are refused with invalid_pattern by the service; this only bounds the body.
_PATTERN_FIELD_LIMIT = 2000


def parse_uploaded_after(value: str, *, today: dt.date) -> dt.date:
    """A date ("2025-01-01") or an age ("30 days", "2 weeks") before `today`."""
    relative = _RELATIVE.fullmatch(value)
    if relative:
        days = int(relative["count"]) * _UNIT_DAYS[relative["unit"]]
        return today - dt.timedelta(days=days)
    return dt.date.fromisoformat(value)


def _uploaded_after(value: object) -> object:
    """A compact YYYYMMDD date as ISO; an age as given (lowercase, trimmed)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"[0-9]{8}", text):
            return f"{text[:4]}-{text[4:6]}-{text[6:]}"
        return text
    return value


Age = Annotated[str, Field(pattern=AGE_PATTERN)]


class SubscriptionFilters(BaseModel):
    """Which new uploads a check downloads."""

    model_config = ConfigDict(extra="forbid")

    uploaded_after: dt.date | Age | None = Field(
        default=None,
        description='Only uploads on or after this date ("2025-01-01"), or younger than this '
        'age ("30 days", "2 weeks", "6 months", "1 year"), judged at each check.',
    )
    include_shorts: bool = False
    include_live: bool = Field(default=False, description="Include past live streams.")
    title_include: Annotated[str | None, Field(max_length=_PATTERN_FIELD_LIMIT)] = Field(
        default=None,
        description="A regular expression (case-insensitive) a title must match; at most 200 "
        "characters, refused (invalid_pattern) when it could backtrack catastrophically.",
    )
    title_exclude: Annotated[str | None, Field(max_length=_PATTERN_FIELD_LIMIT)] = Field(
        default=None, description="A regular expression a title must not match."
    )
    min_duration: int | None = Field(default=None, ge=0, description="Seconds.")
    max_duration: int | None = Field(default=None, ge=1, description="Seconds.")
    max_per_check: int | None = Field(
        default=None, ge=1, le=500, description="At most this many new videos per check."
    )

    @field_validator("uploaded_after", mode="before")
    @classmethod
    def _compact_or_age(cls, value: object) -> object:
        return _uploaded_after(value)

    def uploaded_after_date(self, *, today: dt.date) -> dt.date | None:
        if isinstance(self.uploaded_after, str):
            return parse_uploaded_after(self.uploaded_after, today=today)
        return self.uploaded_after


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048)
    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    options: JobOptions = Field(default_factory=JobOptions)
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    check_interval_minutes: int = Field(
        default=60,
        le=30 * 24 * 60,
        description="At least SUBSCRIPTION_MIN_INTERVAL_MINUTES (15 by default).",
        json_schema_extra={"minimum": DEFAULT_MIN_INTERVAL},
    )
    paused: bool = False
    backfill: int = Field(
        default=0,
        ge=0,
        le=500,
        description="The first check downloads this many of the newest uploads; 0: only "
        "uploads from now on.",
    )
    keep_last: int | None = Field(
        default=None, ge=1, description="Keep only the newest N downloaded videos' files."
    )
    priority: Priority = Field(default=Priority.NORMAL, description=PRIORITY_DESCRIPTION)


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    options: JobOptions | None = None
    filters: SubscriptionFilters | None = None
    check_interval_minutes: int | None = Field(
        default=None,
        le=30 * 24 * 60,
        description="At least SUBSCRIPTION_MIN_INTERVAL_MINUTES (15 by default).",
        json_schema_extra={"minimum": DEFAULT_MIN_INTERVAL},
    )
    paused: bool | None = None
    keep_last: int | None = Field(default=None, ge=1)
    priority: Priority | None = Field(
        default=None, description="The priority of the next checks' downloads."
    )


class SubscriptionCounts(BaseModel):
    seen: int = Field(description="Every video the subscription has listed.")
    downloaded: int
    failed: int
    pending: int = Field(description="Queued or downloading in the running check.")


class FeedState(BaseModel):
    enabled: bool
    media: FeedMedia


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    url: str
    name: str | None
    kind: SubscriptionKind
    tab: ChannelTab | None
    options: JobOptions
    filters: SubscriptionFilters
    check_interval_minutes: int
    paused: bool
    backfill: int
    keep_last: int | None
    priority: Priority
    created_at: dt.datetime
    last_check_at: dt.datetime | None
    next_check_at: dt.datetime | None
    last_check_job_id: uuid.UUID | None
    checking: bool = Field(description="A check is running now.")
    last_error: JobError | None
    counts: SubscriptionCounts
    feed: FeedState


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    total: int
    limit: int
    offset: int


class CheckStarted(BaseModel):
    job_id: uuid.UUID = Field(description="The check's job (a family of kind subscription_check).")
    started: bool = Field(description="False when a check was already running: its job.")


class FeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    media: FeedMedia = FeedMedia.AUDIO


class FeedCreated(BaseModel):
    url: str = Field(description="The feed's URL; shown only here (only a digest is kept).")
    media: FeedMedia
