"""Building blocks for the playlist and channel sections of the offline catalog (tests only).

Every playable playlist or channel entry is a copy of one cheap template video (the 2 s
ladder clip) with its own id, title and dates. The copies share the template's media URLs,
so a playlist of ten children downloads in seconds. Catalog sections::

    "playlists": {"<list id>": {"title", "description", "channel", "channel_id",
                                "uploader_id", "entries": ["<video id>", ...]}}
    "channels": {"@handle": {"channel_id": "UC…", "title", "description",
                             "videos": ["<video id>", ...],   # newest first
                             "shorts": ["<video id>", ...]}}  # newest first

The fixture data itself (ids, dates, titles) lives with the other constants in
``offline_youtube``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Every fixture upload happened at 16:30 UTC on its day, like the standard clip.
_UPLOAD_HOUR, _UPLOAD_MINUTE = 16, 30


def upload_fields(upload_date: str) -> dict[str, Any]:
    """``upload_date`` and the matching ``timestamp`` for a YYYYMMDD day."""
    day = datetime.strptime(upload_date, "%Y%m%d").replace(
        hour=_UPLOAD_HOUR, minute=_UPLOAD_MINUTE, tzinfo=UTC
    )
    return {"upload_date": upload_date, "timestamp": int(day.timestamp())}


def owner_fields(handle: str, channel: Mapping[str, Any]) -> dict[str, Any]:
    """The uploader fields a video of the catalog channel ``handle`` carries."""
    return {
        "channel": channel["title"],
        "channel_id": channel["channel_id"],
        "channel_url": f"https://www.youtube.com/channel/{channel['channel_id']}",
        "channel_follower_count": channel.get("channel_follower_count"),
        "channel_is_verified": False,
        "uploader": channel["title"],
        "uploader_id": handle,
        "uploader_url": f"https://www.youtube.com/{handle}",
    }


def playable_copy(
    template: Mapping[str, Any],
    video_id: str,
    *,
    title: str,
    upload_date: str,
    **fields: Any,
) -> dict[str, Any]:
    """A new catalog video that plays the template's media under its own id and title."""
    entry = copy.deepcopy(dict(template))
    entry.update(
        id=video_id,
        title=title,
        fulltitle=title,
        subtitles={},
        automatic_captions={},
        **upload_fields(upload_date),
    )
    entry.update(fields)
    return entry


def manual_en_subtitles(url: str) -> dict[str, Any]:
    """A ``subtitles`` field offering one uploaded English VTT track."""
    return {"en": [{"ext": "vtt", "url": url, "name": "English"}]}


def write_captions(source: Path, target: Path, *, replace: tuple[str, str] | None = None) -> None:
    """Copy a caption file, optionally swapping one word (e.g. for a search-only word)."""
    text = source.read_text(encoding="utf-8")
    if replace is not None:
        old, new = replace
        if old not in text:
            raise ValueError(f"{source.name} has no {old!r} to replace")
        text = text.replace(old, new, 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def insert_position(entries: list[str], position: int | None) -> int:
    """List index for a 1-based playlist position (None: append; past the end: append)."""
    if position is None:
        return len(entries)
    if position < 1:
        raise ValueError(f"playlist positions start at 1, got {position}")
    return min(position - 1, len(entries))


def newest_first_index(
    video_ids: list[str], upload_date: str, videos: Mapping[str, Mapping[str, Any]]
) -> int:
    """Where a video uploaded on ``upload_date`` goes in a newest-first channel tab."""
    for index, other in enumerate(video_ids):
        if str(videos.get(other, {}).get("upload_date", "")) <= upload_date:
            return index
    return len(video_ids)
