"""The URL fields of requests: absolute http(s), bounded, without spaces, and read the same
way by every URL parser the service uses."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

MAX_URL_LENGTH = 2048


class AmbiguousUrl(ValueError):
    """A URL that URL parsers read differently: Python's (used to check it) and yt-dlp's or
    a browser's (used to fetch it) may see different hosts. Refused as `unsupported_url`."""


def _check_unambiguous(value: str, netloc: str) -> None:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        # WHATWG parsers drop tabs and newlines anywhere; Python keeps some of them.
        raise AmbiguousUrl("must not contain control characters")
    if "\\" in value:
        # `https://127.0.0.1\@www.youtube.com/`: Python reads www.youtube.com, yt-dlp 127.0.0.1.
        raise AmbiguousUrl("must not contain backslashes, which parsers read differently")
    if "@" in netloc:
        raise AmbiguousUrl("must not carry a user name or password before the host (user@host)")


def _check_url(value: str) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"malformed URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL, such as https://example.com/path")
    _check_unambiguous(value, parts.netloc)
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces")
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
