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
from app.downloads.engine.options import impersonation_params
from app.downloads.engine.ranged import MultiConnectionYoutubeDL
from app.downloads.exceptions import JobCanceled, JobFailure, JobPaused, LeaseLost
from app.security.addresses import AddressPolicy
from app.security.egress import EgressProxy
from app.youtube.routes import Route, routes

# What yt-dlp makes of the guard's 502 and 504 answers, which carry no reason it keeps.
_GUARD_ANSWERS = (
    "tunnel connection failed: 50",
    "unable to connect to proxy",
    "http error 502",
    "http error 504",
)
# What the user can do about YouTube's refusals, in this service's settings and commands:
# yt-dlp's own advice names command-line flags no user of this service can pass.
_DOCTOR = "`yds doctor` (or GET /api/v1/admin/doctor) shows which of these is missing."
BOT_CHECK_MESSAGE = (
    "YouTube asked to confirm this is not a bot. An operator can upload the cookies of a "
    "signed-in account (`yds cookies upload`, the admin API, or YTDLP_COOKIES_FILE), point "
    "YTDLP_POT_PROVIDER_URL at a PO-token provider, send downloads through other addresses "
    "with YTDLP_PROXIES, or present a browser's fingerprint with YTDLP_IMPERSONATE. " + _DOCTOR
)
THROTTLED_MESSAGE = (
    "YouTube answered HTTP 429 (too many requests). The route rests for "
    "BREAKER_COOLDOWN_SECONDS; an operator can add routes with YTDLP_PROXIES or upload the "
    "cookies of a signed-in account (`yds cookies upload`). " + _DOCTOR
)
GEO_BLOCKED_ADVICE = (
    "An operator can send downloads through a proxy in another country with YTDLP_PROXIES. "
    + _DOCTOR
)
SIGN_IN_ADVICE = (
    "An operator can upload the cookies of a signed-in account (`yds cookies upload`, the "
    "admin API, or YTDLP_COOKIES_FILE)."
)
INVALID_COOKIES_MESSAGE = (
    "yt-dlp could not load its cookies, which are not a Netscape cookie file (the line is not "
    "shown). An admin can upload a valid file (yds cookies upload) or fix YTDLP_COOKIES_FILE."
)


@contextmanager
def guarded_ydl(
    params: dict[str, Any], settings: Settings, route: Route | None = None
) -> Iterator[yt_dlp.YoutubeDL]:
    """A YoutubeDL whose every request, redirects included, passes the egress guard (chained
    to the proxy of `route`, by default the first of YTDLP_PROXIES). A refused address fails
    the run with forbidden_address whatever yt-dlp made of it (an error, or a missing
    thumbnail); so does a URL the guard cannot carry (file://). A host the guard could not
    reach fails the run with the guard's reason (dns_failed, connection_refused, ...), not
    yt-dlp's "Tunnel connection failed"."""
    via = route or routes(settings)[0]
    with EgressProxy(AddressPolicy.from_settings(settings), upstream=via.proxy) as proxy:
        try:
            with MultiConnectionYoutubeDL(
                {
                    **impersonation_params(settings),
                    **params,
                    "proxy": proxy.url,
                    "js_runtimes": settings.js_runtimes,
                },
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
    (
        ("available in your country", "from your location", "geo restrict", "geo-restrict"),
        "geo_restricted",
        False,
    ),
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
# yt-dlp's advice names its command-line flags ("Use --cookies ...", "with --proxy").
_CLI_FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
_SENTENCE_END = re.compile(r"[.!?]\s+")
_ADVICE = {"throttled": THROTTLED_MESSAGE, "geo_restricted": GEO_BLOCKED_ADVICE}


def classify_error(exc: BaseException) -> JobFailure:
    """Map a yt-dlp failure onto a stable code; permanent ones are never retried."""
    message = re.sub(r"^ERROR:\s*(\[[^\]]+\]\s*)?([\w-]+:\s*)?", "", str(exc)).strip()
    message = message.split("; please report this issue")[0]  # yt-dlp's bug-report footer
    lowered = message.lower()
    if any(needle in lowered for needle in _BOT_CHECK):
        return JobFailure(BOT_CHECK_MESSAGE, code="throttled", retryable=True)
    if "cookies file" in lowered:  # yt-dlp's message quotes the line, a value included
        return JobFailure(INVALID_COOKIES_MESSAGE, code="invalid_cookies", retryable=False)
    for needles, code, retryable in _ERROR_TABLE:
        if any(needle in lowered for needle in needles):
            return JobFailure(_in_our_words(message, code), code=code, retryable=retryable)
    return JobFailure(
        _in_our_words(message, None) or "The download failed.", code="download_failed"
    )


def _in_our_words(message: str, code: str | None) -> str:
    """yt-dlp's message without its command-line advice, and ours for what can be done."""
    if code == "throttled":
        return THROTTLED_MESSAGE
    # yt-dlp puts a sentence on each line; flag advice trails the reason.
    message = re.sub(r"(?<![.!?])[ \t]*\n\s*", ". ", message.strip())
    flag = _CLI_FLAG.search(message)
    if flag is not None:
        ends = [found.end() for found in _SENTENCE_END.finditer(message, 0, flag.start())]
        message = message[: ends[-1]] if ends else ""
    message = " ".join(message.split()).rstrip(" .:;,")
    advice = _ADVICE.get(code or "") or _flag_advice(flag.group(0) if flag else "")
    return f"{message}. {advice}" if advice and message else message or advice


def _flag_advice(flag: str) -> str:
    if flag.startswith(("--cookies", "--username", "--password", "--netrc")):
        return SIGN_IN_ADVICE
    if flag.startswith(("--proxy", "--geo")):
        return GEO_BLOCKED_ADVICE
    return ""


def hook_exception(exc: BaseException) -> BaseException | None:
    """yt-dlp wraps what our hooks raise (in DownloadError.exc_info or as a context); find it."""
    for current in _chain(exc):
        if isinstance(current, (JobCanceled, JobPaused, LeaseLost, JobFailure)):
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
