"""Turns a playlist or channel URL into its entries with yt-dlp's flat extraction: one
request per page of entries, no video page fetched."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yt_dlp
from yt_dlp.utils import PlaylistEntries

from app.core.config import Settings
from app.downloads.engine.guard import guarded_ydl
from app.downloads.engine.options import YtDlpLogger
from app.downloads.exceptions import JobFailure
from app.downloads.schemas import DateWindow
from app.downloads.urls import youtube_video_id
from app.youtube.routes import Route

logger = logging.getLogger(__name__)

# Nested lists yt-dlp returns for a channel's home page (its Videos, Shorts, Live tabs).
_LIST_EXTRACTORS = frozenset({"YoutubeTab", "YoutubePlaylist"})
_MAX_REDIRECTS = 3
DAY = 86400


@dataclass(frozen=True)
class Entry:
    position: int
    video_id: str
    url: str
    title: str | None
    duration: float | None = None
    # What the flat row says besides, for a subscription's filters.
    short: bool = False  # listed under /shorts/
    live_status: str | None = None
    timestamp: float | None = None  # approximate, when the listing asked for dates


@dataclass(frozen=True)
class Expansion:
    playlist_id: str | None
    title: str | None
    channel: str | None
    entries: list[Entry]
    outside_dates: list[Entry]


def expand(
    url: str,
    *,
    settings: Settings,
    playlist_items: str | None,
    max_items: int,
    window: DateWindow,
    check_stop: Callable[[], None],
    newest_first: bool = False,
    route: Route | None = None,
) -> Expansion:
    """The selected entries, in list order; `check_stop` is called between entries.

    `newest_first` (a channel's tabs): with `window.after`, each tab is read only down to
    its first upload surely older than that date, so a date window on a channel with
    thousands of uploads asks for a few pages, not all of them. Not with `playlist_items`,
    whose positions count every entry.
    """
    params: dict[str, Any] = {
        "quiet": True,
        "no_warnings": False,
        "logger": YtDlpLogger(logger),
        "cachedir": False,
        "socket_timeout": 30,
        "extractor_retries": 3,
        "lazy_playlist": True,
        "playlist_items": playlist_items,
    }
    if window.is_set:
        # Flat rows carry only "3 weeks ago"; asked for, yt-dlp turns that into a timestamp.
        params["extractor_args"] = {"youtubetab": {"approximate_date": [""]}}
    with guarded_ydl(params, settings, route) as ydl:
        stop_before = window.after if newest_first and not playlist_items else None
        return _select(ydl, url, max_items, window, check_stop, stop_before)


def _resolve(ydl: yt_dlp.YoutubeDL, url: str) -> dict[str, Any]:
    info: dict[str, Any] = ydl.extract_info(url, download=False, process=False) or {}
    for _ in range(_MAX_REDIRECTS):
        if info.get("_type") not in ("url", "url_transparent"):
            break
        info = ydl.extract_info(info["url"], download=False, process=False) or {}
    if info.get("_type") != "playlist":
        raise JobFailure("The URL is not a playlist or channel.", code="unsupported_url")
    return info


def _flattened(
    ydl: yt_dlp.YoutubeDL, entries: Any, stop_before: dt.date | None
) -> Iterator[dict[str, Any] | None]:
    for entry in _down_to(entries, stop_before):
        if isinstance(entry, dict) and entry.get("_type") == "playlist":
            yield from _down_to(entry.get("entries"), stop_before)
        elif isinstance(entry, dict) and entry.get("ie_key") in _LIST_EXTRACTORS:
            yield from _down_to(_resolve(ydl, entry["url"]).get("entries"), stop_before)
        else:
            yield entry


def _down_to(entries: Any, stop_before: dt.date | None) -> Iterator[Any]:
    """A newest-first list up to and including its first entry surely older than
    `stop_before` (yt-dlp fetches pages lazily, so the rest is never asked for)."""
    for entry in entries or ():
        yield entry
        latest = _latest_date(entry) if isinstance(entry, dict) else None
        if stop_before and latest and latest < stop_before:
            return


def _select(
    ydl: yt_dlp.YoutubeDL,
    url: str,
    max_items: int,
    window: DateWindow,
    check_stop: Callable[[], None],
    stop_before: dt.date | None,
) -> Expansion:
    info = _resolve(ydl, url)
    flat = {"entries": _flattened(ydl, info.get("entries"), stop_before)}
    entries: list[Entry] = []
    outside: list[Entry] = []
    seen: set[int] = set()
    now = dt.datetime.now(dt.UTC).timestamp()
    for position, raw in PlaylistEntries(ydl, flat).get_requested_items():
        check_stop()
        entry = _entry(position, raw)
        if entry is None or position in seen:
            continue
        seen.add(position)
        if not _may_fall_within(raw or {}, window, now):
            outside.append(entry)
            continue
        entries.append(entry)
        if len(entries) >= max_items:
            break
    return Expansion(
        playlist_id=info.get("id"),
        title=info.get("title"),
        channel=info.get("channel") or info.get("uploader"),
        entries=entries,
        outside_dates=outside,
    )


def _entry(position: int, raw: dict[str, Any] | None) -> Entry | None:
    if not raw:
        return None
    video_id = raw.get("id")
    url = raw.get("url") or ""
    if raw.get("ie_key") == "Youtube" or youtube_video_id(url):
        video_id = video_id or youtube_video_id(url)
        if not video_id:
            return None
        url = f"https://www.youtube.com/watch?v={video_id}"
    if not video_id or not url.startswith(("http://", "https://")):
        return None
    short = "/shorts/" in str(raw.get("url") or "")
    duration = raw.get("duration")
    seconds = float(duration) if isinstance(duration, int | float) and duration > 0 else None
    timestamp = raw.get("timestamp")
    return Entry(
        position,
        str(video_id),
        url,
        raw.get("title"),
        seconds,
        short=short,
        live_status=raw.get("live_status"),
        timestamp=float(timestamp) if isinstance(timestamp, int | float) else None,
    )


def _may_fall_within(raw: dict[str, Any], window: DateWindow, now: float) -> bool:
    """False only when the entry is surely outside the window; the child checks exactly."""
    if not window.is_set:
        return True
    upload_date = raw.get("upload_date")
    if upload_date:
        return window.contains(_day(upload_date))
    timestamp = raw.get("timestamp")
    latest = _latest_date(raw)
    if timestamp is None or latest is None:
        return True
    slack = max(DAY, now - timestamp)
    earliest = dt.datetime.fromtimestamp(timestamp - slack, dt.UTC).date()
    if window.after and latest < window.after:
        return False
    return not (window.before and earliest > window.before)


def _latest_date(raw: dict[str, Any]) -> dt.date | None:
    """The latest day the entry can have been uploaded on, when its row says.

    A flat row's timestamp comes from "3 weeks ago", which means at least three weeks:
    the upload is no later than the timestamp (and earlier by less than one unit of the
    text, which is at most the age it states).
    """
    if raw.get("upload_date"):
        return _day(str(raw["upload_date"]))
    timestamp = raw.get("timestamp")
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date()


def _day(upload_date: str) -> dt.date:
    return dt.date.fromisoformat(f"{upload_date[:4]}-{upload_date[4:6]}-{upload_date[6:]}")
