"""Request and response bodies of the subscriptions API."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.downloads.schemas import JobOptions
from app.jobs.schemas import JobError
from app.subscriptions.models import ChannelTab, FeedMedia, SubscriptionKind

_RELATIVE = re.compile(r"(?P<count>\d{1,5})\s*(?P<unit>day|week|month|year)s?", re.IGNORECASE)
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
MAX_NAME_CHARS = 200
# Longer patterns are refused with invalid_pattern by the service; this only bounds the body.
_PATTERN_FIELD_LIMIT = 2000


def parse_uploaded_after(value: str, *, today: dt.date) -> dt.date:
    """A date ("2025-01-01", "20250101") or an age ("30 days", "2 weeks") before `today`."""
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        days = int(relative["count"]) * _UNIT_DAYS[relative["unit"].lower()]
        return today - dt.timedelta(days=days)
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return dt.date.fromisoformat(text)


def _check_uploaded_after(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_uploaded_after(value, today=dt.date(2000, 1, 1))
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            'a date such as "2025-01-01" or an age such as "30 days", "2 weeks", "6 months"'
        ) from exc
    return value.strip()


class SubscriptionFilters(BaseModel):
    """Which new uploads a check downloads."""

    model_config = ConfigDict(extra="forbid")

    uploaded_after: Annotated[str | None, Field(max_length=32)] = Field(
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

    @field_validator("uploaded_after")
    @classmethod
    def _valid_uploaded_after(cls, value: str | None) -> str | None:
        return _check_uploaded_after(value)

    @model_validator(mode="after")
    def _durations(self) -> SubscriptionFilters:
        low, high = self.min_duration, self.max_duration
        if low is not None and high is not None and low > high:
            raise ValueError("min_duration is above max_duration")
        return self


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


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    options: JobOptions | None = None
    filters: SubscriptionFilters | None = None
    check_interval_minutes: int | None = Field(default=None, le=30 * 24 * 60)
    paused: bool | None = None
    keep_last: int | None = Field(default=None, ge=1)


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
