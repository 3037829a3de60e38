from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UTCDateTime, utcnow


class Scope(enum.StrEnum):
    ADMIN = "admin"
    DOWNLOADS_READ = "downloads:read"
    DOWNLOADS_WRITE = "downloads:write"


class ApiKey(Base):
    """An API key. Only an HMAC of the key is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the key: finds the row without storing anything secret.
    key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    usage_count: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    max_active_jobs: Mapped[int | None] = mapped_column(Integer)
    max_jobs_per_day: Mapped[int | None] = mapped_column(Integer)
    # Used for jobs that name no webhook_url of their own.
    webhook_url: Mapped[str | None] = mapped_column(Text)

    def has_scope(self, scope: Scope) -> bool:
        return scope.value in self.scopes

    def is_expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
