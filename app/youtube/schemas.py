"""What the cookie routes answer: a status, never a cookie's value."""

from __future__ import annotations

import datetime as dt

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
