"""Which URLs a client may submit: hosts from ALLOWED_DOMAINS; on YouTube, videos, playlists
and channels (a channel's home, videos, shorts or live tab)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from app.core.config import YOUTUBE_HOSTS
from app.downloads.exceptions import UnsupportedUrl
from app.jobs.models import JobKind

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_PATH_VIDEO = re.compile(r"/(?:shorts|live|embed|v|e)/([A-Za-z0-9_-]{11})/?")
_LIST_ID = re.compile(r"[A-Za-z0-9_-]{2,64}")
# /@handle, /channel/UC..., /c/name, /user/name, optionally followed by a tab.
_CHANNEL = re.compile(
    r"/(?P<channel>@[\w.-]{1,100}|channel/UC[A-Za-z0-9_-]{22}|c/[\w.-]{1,100}|user/[\w.-]{1,100})"
    r"(?:/(?P<tab>videos|shorts|streams|featured))?/?",
)
CHANNEL_TABS = ("videos", "shorts", "streams")


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


@dataclass(frozen=True)
class Target:
    """What a submitted URL is: a video, or a playlist or channel to expand (with the URL
    the worker should give yt-dlp)."""

    kind: JobKind
    url: str


def _list_id(url: str) -> str | None:
    ids = parse_qs(urlsplit(url).query).get("list", [])
    return ids[0] if len(ids) == 1 and _LIST_ID.fullmatch(ids[0]) else None


def playlist_url(list_id: str) -> str:
    return f"https://www.youtube.com/playlist?{urlencode({'list': list_id})}"


def classify(url: str, allowed_domains: tuple[str, ...], *, playlist: bool = False) -> Target:
    """Raise `UnsupportedUrl` unless the URL's host is allowed and, on YouTube, the URL is a
    video, a playlist or a channel. A watch URL with `list=` is its video unless `playlist`."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if host not in allowed_domains:
        raise UnsupportedUrl(
            f"Host {host!r} is not supported; allowed: {', '.join(allowed_domains)}."
        )
    if host not in YOUTUBE_HOSTS:
        if playlist:
            raise UnsupportedUrl("playlist: true needs a YouTube URL with list=.")
        return Target(JobKind.VIDEO, url)
    list_id = _list_id(url)
    if youtube_video_id(url) is not None:
        if not playlist:
            return Target(JobKind.VIDEO, url)
        if list_id is None:
            raise UnsupportedUrl("playlist: true needs a URL with list=; this is a single video.")
        return Target(JobKind.PLAYLIST, playlist_url(list_id))
    if parts.path.rstrip("/") == "/playlist" and list_id is not None:
        return Target(JobKind.PLAYLIST, playlist_url(list_id))
    channel = _CHANNEL.fullmatch(parts.path)
    if channel is not None and host != "youtu.be":
        tab = channel.group("tab")
        suffix = f"/{tab}" if tab in CHANNEL_TABS else ""
        return Target(
            JobKind.CHANNEL, f"https://www.youtube.com/{channel.group('channel')}{suffix}"
        )
    raise UnsupportedUrl(
        "Supported YouTube URLs: videos (watch?v=, youtu.be/, shorts, live, embed), "
        "playlists (playlist?list=) and channels (/@handle, /channel/ID, with /videos, "
        "/shorts or /streams)."
    )


def check_submittable(url: str, allowed_domains: tuple[str, ...]) -> None:
    """Raise `UnsupportedUrl` unless the URL's host is allowed and it is a single video."""
    if classify(url, allowed_domains).kind is not JobKind.VIDEO:
        raise UnsupportedUrl("This endpoint takes a single video, not a playlist or channel.")
