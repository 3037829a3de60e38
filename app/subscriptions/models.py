"""A subscription (a followed channel or playlist of one key) and its archive: every video
id it has seen, kept after the files expire or the jobs are deleted, so a check never
downloads a video twice."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UTCDateTime, utcnow
from app.jobs.models import Priority


class SubscriptionKind(enum.StrEnum):
    CHANNEL = "channel"
    PLAYLIST = "playlist"


class ChannelTab(enum.StrEnum):
    VIDEOS = "videos"
    SHORTS = "shorts"
    STREAMS = "streams"


class FeedMedia(enum.StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


class EntryStatus(enum.StrEnum):
    """What became of one video a subscription has seen."""

    SEEN = "seen"  # listed, not to be downloaded (before the backfill, or filtered out)
    QUEUED = "queued"  # a child of a check, not ended yet
    DOWNLOADED = "downloaded"
    FAILED = "failed"  # tried again by the next checks, up to SUBSCRIPTION_MAX_ATTEMPTS
    SKIPPED = "skipped"  # its exact upload date turned out to be outside the filter


def _enum_column(enum_type: type[enum.StrEnum]) -> SAEnum:
    return SAEnum(
        enum_type,
        native_enum=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_owner_created", "api_key_id", "created_at"),
        Index("ix_subscriptions_next_check", "next_check_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[SubscriptionKind] = mapped_column(_enum_column(SubscriptionKind))
    tab: Mapped[ChannelTab | None] = mapped_column(_enum_column(ChannelTab))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    check_interval_minutes: Mapped[int] = mapped_column(Integer)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    backfill: Mapped[int] = mapped_column(Integer, default=0)
    keep_last: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_check_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The running check's job; NULL when idle. Set with a compare-and-set on NULL, so one
    # subscription never runs two checks at once.
    checking_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL")
    )
    last_check_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL")
    )
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    # Only the SHA-256 of the feed's token: the feed URL is shown once, when it is made.
    feed_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    feed_media: Mapped[FeedMedia] = mapped_column(
        _enum_column(FeedMedia), default=FeedMedia.AUDIO, server_default=FeedMedia.AUDIO.value
    )
    # The priority of its checks, and so of the downloads they find.
    priority: Mapped[Priority] = mapped_column(
        _enum_column(Priority), default=Priority.NORMAL, server_default=Priority.NORMAL.value
    )
    # Whether a check has listed the source once (the first check applies the backfill).
    initialized: Mapped[bool] = mapped_column(Boolean, default=False)


class SubscriptionVideo(Base):
    """One video a subscription has seen (its archive)."""

    __tablename__ = "subscription_videos"
    __table_args__ = (
        UniqueConstraint("subscription_id", "video_id", name="uq_subscription_videos_video"),
        Index("ix_subscription_videos_job", "job_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    video_id: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    status: Mapped[EntryStatus] = mapped_column(_enum_column(EntryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(Text)
    upload_date: Mapped[str | None] = mapped_column(String(10))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    downloaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
