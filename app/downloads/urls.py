"""Which URLs a client may submit: hosts from ALLOWED_DOMAINS, and on YouTube only video pages."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import anyio

from app.core.config import Settings
from app.downloads.exceptions import ForbiddenAddressError, UnsupportedUrl
from app.security.addresses import AddressPolicy, ForbiddenAddress, UnresolvableHost

YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtu.be",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_PATH_VIDEO = re.compile(r"/(?:shorts|live|embed|v|e)/([A-Za-z0-9_-]{11})/?")


def youtube_video_id(url: str) -> str | None:
    """The video id of a YouTube watch, shorts, live, embed or youtu.be URL, else None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "youtu.be":
        candidate = parts.path.strip("/")
        return candidate if _VIDEO_ID.fullmatch(candidate) else None
    if parts.path.rstrip("/") == "/watch":
        ids = parse_qs(parts.query).get("v", [])
        return ids[0] if len(ids) == 1 and _VIDEO_ID.fullmatch(ids[0]) else None
    match = _PATH_VIDEO.fullmatch(parts.path)
    return match.group(1) if match else None


def check_submittable(url: str, allowed_domains: tuple[str, ...]) -> None:
    """Raise `UnsupportedUrl` unless the URL's host is allowed (and is a video on YouTube)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host not in allowed_domains:
        raise UnsupportedUrl(
            f"Host {host!r} is not supported; allowed: {', '.join(allowed_domains)}."
        )
    if host in YOUTUBE_HOSTS and youtube_video_id(url) is None:
        raise UnsupportedUrl(
            "Only YouTube video URLs are supported (watch?v=, youtu.be/, shorts, live, embed)."
        )


async def check_address(url: str, settings: Settings) -> None:
    """Refuse URLs whose host is, or resolves to, an address the egress guard would refuse
    anyway, before anything is queued. Hosts that do not resolve here are left to the
    guard at fetch time."""
    host = urlsplit(url).hostname or ""
    if host in YOUTUBE_HOSTS:
        return  # public by definition; the egress guard still checks every connection
    policy = AddressPolicy.from_settings(settings)
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        await anyio.to_thread.run_sync(policy.resolve, host, port)
    except ForbiddenAddress as refusal:
        raise ForbiddenAddressError(str(refusal)) from refusal
    except UnresolvableHost:
        return
