"""The URL fields of requests: absolute http(s), bounded, without spaces or control
characters."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

MAX_URL_LENGTH = 2048


def _check_url(value: str) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"malformed URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL, such as https://example.com/path")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    return value


HttpUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_check_url)]


def check_url(value: str) -> str:
    """The checks of a URL field, for URLs validated one by one (batches)."""
    if not value or len(value) > MAX_URL_LENGTH:
        raise ValueError(f"must be 1 to {MAX_URL_LENGTH} characters")
    return _check_url(value)
