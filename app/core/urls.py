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


# The same rule for OpenAPI (a little stricter: no IPv6 literals, no user info with "@"), so
# that a request the schema calls valid is never refused for its URL's shape. \x85 is
# space to Python's isspace but not to the \s of JSON Schema's (ECMAScript) regexes.
_BLANK = r"\s\x00-\x1f\x85"
_PORT = "[0-9]{0,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]"
URL_PATTERN = (
    rf"^[hH][tT][tT][pP][sS]?://([^{_BLANK}/?#@\[\]]*@)?[^{_BLANK}/?#@:\[\]]+"
    rf"(:({_PORT}))?([/?#][^{_BLANK}]*)?$"
)

HttpUrl = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"pattern": URL_PATTERN}),
    AfterValidator(_check_url),
]


def check_url(value: str) -> str:
    """The checks of a URL field, for URLs validated one by one (batches)."""
    if not value or len(value) > MAX_URL_LENGTH:
        raise ValueError(f"must be 1 to {MAX_URL_LENGTH} characters")
    return _check_url(value)
