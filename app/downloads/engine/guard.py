"""Every yt-dlp run goes through here: its requests leave through the egress guard, and what
it raises comes out as a `JobFailure` with a stable code (or as our own hooks' exception)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yt_dlp
from yt_dlp.networking.exceptions import NoSupportingHandlers, RequestError, UnsupportedRequest
from yt_dlp.utils import DownloadError, ExtractorError

from app.core.config import Settings
from app.downloads.engine.ranged import MultiConnectionYoutubeDL
from app.downloads.exceptions import JobCanceled, JobFailure, LeaseLost
from app.security.addresses import AddressPolicy
from app.security.egress import EgressProxy

# What yt-dlp makes of the guard's 502 and 504 answers, which carry no reason it keeps.
_GUARD_ANSWERS = (
    "tunnel connection failed: 50",
    "unable to connect to proxy",
    "http error 502",
    "http error 504",
)
BOT_CHECK_MESSAGE = (
    "YouTube asked to confirm this is not a bot. An admin can upload the cookies of a "
    "signed-in account (yds cookies upload) or set YTDLP_COOKIES_FILE, or send downloads "
    "through another address with YTDLP_PROXY."
)
INVALID_COOKIES_MESSAGE = (
    "yt-dlp could not load its cookies, which are not a Netscape cookie file (the line is not "
    "shown). An admin can upload a valid file (yds cookies upload) or fix YTDLP_COOKIES_FILE."
)


@contextmanager
def guarded_ydl(params: dict[str, Any], settings: Settings) -> Iterator[yt_dlp.YoutubeDL]:
    """A YoutubeDL whose every request, redirects included, passes the egress guard (chained
    to YTDLP_PROXY when one is set). A refused address fails the run with forbidden_address
    whatever yt-dlp made of it (an error, or a missing thumbnail); so does a URL the guard
    cannot carry (file://). A host the guard could not reach fails the run with the guard's
    reason (dns_failed, connection_refused, ...), not yt-dlp's "Tunnel connection failed"."""
    upstream = settings.ytdlp_proxy.get_secret_value() or None
    with EgressProxy(AddressPolicy.from_settings(settings), upstream=upstream) as proxy:
        try:
            with MultiConnectionYoutubeDL(
                {**params, "proxy": proxy.url, "js_runtimes": settings.js_runtimes},
                connections=settings.download_connections,
                per_host=settings.download_connections_per_host,
            ) as ydl:
                yield ydl
        except Exception as exc:
            _fail_if_refused(proxy, exc)
            ours = hook_exception(exc)
            if ours is not None:
                raise ours from None
            _fail_if_not_http(exc)
            if isinstance(exc, (DownloadError, ExtractorError)):
                raise _with_network_cause(classify_error(exc), proxy) from exc
            raise
        _fail_if_refused(proxy, None)


def _fail_if_refused(proxy: EgressProxy, cause: BaseException | None) -> None:
    refusals = proxy.refusals
    if refusals:
        first = refusals[0]
        raise JobFailure(
            f"Refused to fetch from {first.host} ({first.reason}).", code="forbidden_address"
        ) from cause


def _fail_if_not_http(exc: BaseException) -> None:
    """yt-dlp refuses (file://) or cannot send (ftp://, ...) a URL itself, so it never
    reached the guard; for the job it is a forbidden address all the same."""
    for current in _chain(exc):
        unsendable = isinstance(current, (NoSupportingHandlers, UnsupportedRequest))
        if unsendable or (isinstance(current, RequestError) and "file://" in str(current)):
            raise JobFailure(
                "Refused to fetch a URL that is not http(s); "
                "this service fetches only http(s) through its egress guard.",
                code="forbidden_address",
            ) from exc


def _with_network_cause(failure: JobFailure, proxy: EgressProxy) -> JobFailure:
    """A failure that is the guard's own 502 or 504 answer carries the reason the guard saw
    last, in plain words."""
    unreachable = proxy.unreachable
    lowered = failure.message.lower()
    if not unreachable or not any(answer in lowered for answer in _GUARD_ANSWERS):
        return failure
    last = unreachable[-1]
    return JobFailure(last.message, code=last.code, retryable=last.retryable)


_ERROR_TABLE: list[tuple[tuple[str, ...], str, bool]] = [
    (("private video",), "video_private", False),
    (("members-only", "join this channel"), "members_only", False),
    (
        ("sign in to confirm your age", "age-restricted", "inappropriate for some users"),
        "age_restricted",
        False,
    ),
    (("not available in your country", "geo restrict", "geo-restrict"), "geo_restricted", False),
    (
        ("playlist does not exist", "channel does not exist", "does not have a"),
        "playlist_not_found",
        False,
    ),
    (
        ("removed by the uploader", "video unavailable", "has been removed", "account associated"),
        "video_unavailable",
        False,
    ),
    (("http error 429", "too many requests"), "throttled", True),
    (("unsupported url",), "unsupported_url", False),
    (("postprocessing:", "conversion failed", "ffmpeg"), "postprocessing_failed", False),
    (
        (
            "timed out",
            "connection reset",
            "connection refused",
            "temporary failure",
            "name or service not known",
            "network is unreachable",
            "transporterror",
            "http error 5",
            # The egress guard answers 502/504 when it cannot reach or resolve a host.
            "tunnel connection failed: 50",
            "unable to connect to proxy",
        ),
        "network_error",
        True,
    ),
]


_BOT_CHECK = ("confirm you're not a bot", "confirm you\u2019re not a bot")
# yt-dlp's advice names its command-line flags, which a user of this service cannot pass.
_CLI_HINT = re.compile(r"\.?\s*Use --(?:cookies|username)\b.*$", re.DOTALL)
_SETTINGS_HINT = ". An operator can set YTDLP_COOKIES_FILE to the cookies of a signed-in account."


def classify_error(exc: BaseException) -> JobFailure:
    """Map a yt-dlp failure onto a stable code; permanent ones are never retried."""
    message = re.sub(r"^ERROR:\s*(\[[^\]]+\]\s*)?([\w-]+:\s*)?", "", str(exc)).strip()
    message = message.split("; please report this issue")[0]  # yt-dlp's bug-report footer
    lowered = message.lower()
    if any(needle in lowered for needle in _BOT_CHECK):
        return JobFailure(BOT_CHECK_MESSAGE, code="throttled", retryable=True)
    if "cookies file" in lowered:  # yt-dlp's message quotes the line, a value included
        return JobFailure(INVALID_COOKIES_MESSAGE, code="invalid_cookies", retryable=False)
    message = _CLI_HINT.sub(_SETTINGS_HINT, message)
    for needles, code, retryable in _ERROR_TABLE:
        if any(needle in lowered for needle in needles):
            return JobFailure(message, code=code, retryable=retryable)
    return JobFailure(message or "The download failed.", code="download_failed")


def hook_exception(exc: BaseException) -> BaseException | None:
    """yt-dlp wraps what our hooks raise (in DownloadError.exc_info or as a context); find it."""
    for current in _chain(exc):
        if isinstance(current, (JobCanceled, LeaseLost, JobFailure)):
            return current
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: yt-dlp's exc_info, causes and contexts."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        linked = (exc_info[1] if exc_info else None, current.__cause__, current.__context__)
        pending.extend(e for e in linked if isinstance(e, BaseException))
