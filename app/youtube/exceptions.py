"""Errors of the youtube domain."""

from __future__ import annotations

from app.core.errors import AppError


class InvalidCookieFile(AppError):
    status_code = 422
    code = "invalid_cookie_file"
    message = "The body is not a Netscape cookie file."


class CookieStoreUnavailable(AppError):
    status_code = 503
    code = "cookie_store_unavailable"
    message = "The uploaded cookies could not be read or written; retry shortly."
