from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.auth.models import Scope
from app.core.urls import HttpUrl


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(
        default_factory=lambda: [Scope.DOWNLOADS_READ, Scope.DOWNLOADS_WRITE],
        min_length=1,
        max_length=len(Scope),
    )
    expires_at: dt.datetime | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    max_active_jobs: int | None = Field(default=None, ge=1, le=100_000)
    max_jobs_per_day: int | None = Field(default=None, ge=1, le=1_000_000)
    webhook_url: HttpUrl | None = Field(
        default=None, description="Default webhook of the key's jobs (see /api/v1/webhooks)."
    )

    @field_validator("expires_at")
    @classmethod
    def _with_timezone(cls, value: dt.datetime | None) -> dt.datetime | None:
        """Whether it is in the future is the service's rule (`expiry_in_past`)."""
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a timezone, e.g. 2030-01-01T00:00:00Z")
        return value

    @field_validator("scopes")
    @classmethod
    def _unique(cls, value: list[Scope]) -> list[Scope]:
        return list(dict.fromkeys(value))


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    key_prefix: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    usage_count: int
    rate_limit_per_minute: int | None
    max_active_jobs: int | None
    max_jobs_per_day: int | None
    webhook_url: str | None


class ApiKeyUpdate(BaseModel):
    """What an admin may change on an existing key."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: HttpUrl | None = Field(description="The key's default webhook; null clears it.")


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. It is shown only this once.")


class SessionCreate(BaseModel):
    """The key a browser signs in with; it is checked, never stored (only its session)."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    """Who is signed in, and the token the page repeats in X-CSRF-Token on every request
    that changes something (None when the request came with the API key header)."""

    name: str
    key_prefix: str
    scopes: list[str]
    csrf_token: str | None
    expires_at: dt.datetime | None
