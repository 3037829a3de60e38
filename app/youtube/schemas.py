"""What the YouTube admin routes answer: the cookies' status (never a value) and the
doctor's report."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from pydantic import BaseModel, Field

from app.youtube.cookies import CookieSource


class CookieStatusOut(BaseModel):
    source: CookieSource = Field(
        description="Where yt-dlp's cookies come from: an upload, YTDLP_COOKIES_FILE, or none."
    )
    parseable: bool
    uploaded_at: dt.datetime | None
    count: int = Field(description="Cookies in the file.")
    auth_cookies: int = Field(description="youtube.com/google.com cookies that sign in.")
    expires_at: dt.datetime | None = Field(
        description="When the first of the sign-in cookies expires (session cookies aside)."
    )
    expired: bool
    expiring_soon: bool = Field(description="A sign-in cookie expires within 7 days.")
    error: str | None


class CheckStatus(enum.StrEnum):
    OK = "ok"
    OFF = "off"  # not configured; fine until YouTube asks for it
    WARN = "warn"
    FAIL = "fail"


class DoctorCheck(BaseModel):
    name: str
    status: CheckStatus
    detail: str
    # What to change, in this service's settings and commands; None when nothing is to do.
    fix: str | None = None
    facts: dict[str, Any] = {}
    latency_ms: float


class FailureGroup(BaseModel):
    code: str
    count: int
    last_at: dt.datetime
    last_message: str | None
    hint: str | None


class DoctorReport(BaseModel):
    status: CheckStatus
    checked_at: dt.datetime
    checks: list[DoctorCheck]
    # The last YouTube failures (failed jobs and jobs waiting to retry), by error code.
    recent_failures: list[FailureGroup]
    recent_failures_window: int
