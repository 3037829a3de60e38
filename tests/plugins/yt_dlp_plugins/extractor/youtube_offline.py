"""yt-dlp overrides of YoutubeIE and YoutubeTabIE that answer from an offline JSON catalog.

Tests only. Active only while ``$YDS_OFFLINE_CATALOG`` names a catalog file; otherwise every
call goes to the real extractor, so having the plugin on the path is harmless.

YoutubePlaylistIE (bare ``PL…`` ids, ``/embed/videoseries?list=``) needs no override: it
hands every URL to the "YoutubeTab" extractor key, which resolves to the override here.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yt_dlp.extractor.youtube import YoutubeIE, YoutubeTabIE
from yt_dlp.utils import ExtractorError, parse_qs

CATALOG_ENV = "YDS_OFFLINE_CATALOG"
WATCH_URL = "https://www.youtube.com/watch?v={}"

# YouTube's own wording; entries may also carry a free-form "error_message".
ERROR_MESSAGES = {
    "private": "Private video. Sign in if you've been granted access to this video",
    "removed": "Video unavailable. This video has been removed by the uploader",
    "unavailable": "Video unavailable",
    "age_restricted": "Sign in to confirm your age. This video may be inappropriate for some users",
    "bot_check": "Sign in to confirm you\u2019re not a bot",
}
# Titles YouTube shows on playlist rows it can no longer play.
UNAVAILABLE_TITLES = {"private": "[Private video]", "removed": "[Deleted video]"}
CHANNEL_TABS = ("videos", "shorts")  # the tabs the catalog can describe, in YouTube's order

_CONTROL_KEYS = frozenset({"error", "error_message", "extract_delay", "watch_page"})
# What YouTube's watch page says when it takes the request for a bot's.
BOT_CHECK_PAGE_NEEDLES = ("confirm you're not a bot", "confirm you\u2019re not a bot")


def load_catalog() -> dict[str, Any] | None:
    """The catalog named by ``$YDS_OFFLINE_CATALOG``, read fresh, or None when unset."""
    catalog_path = os.environ.get(CATALOG_ENV)
    if not catalog_path:
        return None
    catalog: dict[str, Any] = json.loads(Path(catalog_path).read_text(encoding="utf-8"))
    return catalog


class YoutubeOfflineIE(YoutubeIE, plugin_name="offline"):  # type: ignore[misc,call-arg]
    """Resolve any URL YoutubeIE accepts from the catalog named by ``$YDS_OFFLINE_CATALOG``."""

    def _real_extract(self, url: str) -> dict[str, Any]:
        catalog = load_catalog()
        if catalog is None:
            return super()._real_extract(url)  # type: ignore[no-any-return]
        video_id: str = self._match_id(url)
        entry: dict[str, Any] | None = catalog.get("videos", {}).get(video_id)
        if entry is None:
            raise ExtractorError(ERROR_MESSAGES["unavailable"], expected=True, video_id=video_id)
        if entry.get("extract_delay"):
            time.sleep(float(entry["extract_delay"]))
        if entry.get("watch_page"):
            self._read_watch_page(entry["watch_page"], video_id)
        if entry.get("error") or entry.get("error_message"):
            message = entry.get("error_message") or ERROR_MESSAGES[entry["error"]]
            if "sign in" in message.lower():
                # Like YoutubeIE, which appends the --cookies hint to every sign-in reason.
                message = f"{message}. {self._youtube_login_hint}"
            raise ExtractorError(message, expected=True, video_id=video_id)
        info = {key: value for key, value in entry.items() if key not in _CONTROL_KEYS}
        info.update(
            id=video_id,
            webpage_url=WATCH_URL.format(video_id),
            _format_sort_fields=(
                "quality", "res", "fps", "hdr:12", "source", "vcodec", "channels", "acodec",
                "lang", "proto",
            ),
        )  # fmt: skip
        return info

    def _read_watch_page(self, page_url: str, video_id: str) -> None:
        """Fetch the watch page as YoutubeIE does (through the run's proxy): HTTP 429 fails
        the extraction as yt-dlp's download does, a bot-check page as YoutubeIE's check."""
        page = str(self._download_webpage(page_url, video_id, note="Downloading watch page"))
        if any(needle in page.lower() for needle in BOT_CHECK_PAGE_NEEDLES):
            message = f"{ERROR_MESSAGES['bot_check']}. {self._youtube_login_hint}"
            raise ExtractorError(message, expected=True, video_id=video_id)


class YoutubeTabOfflineIE(YoutubeTabIE, plugin_name="offline"):  # type: ignore[misc,call-arg]
    """Resolve playlists, ``watch?v=…&list=…`` and channel tabs from the catalog.

    Mirrors what YoutubeTabIE does with the real site's pages: flat ``url`` entries like its
    renderers give, a bare channel URL split into one playlist per tab, ``noplaylist``
    decided by the same ``_yes_playlist``.
    """

    def _real_extract(self, url: str) -> dict[str, Any]:
        catalog = load_catalog()
        if catalog is None:
            return super()._real_extract(url)  # type: ignore[no-any-return]
        mobj = self._get_url_mobj(url)
        item_id: str = self._match_id(url)
        if mobj["not_channel"].startswith(("playlist", "watch")):
            return self._from_list_url(catalog, url, item_id)
        if mobj["not_channel"]:
            raise ExtractorError("Not in the offline catalog (feeds, hashtags)", expected=True)
        return self._from_channel_url(catalog, item_id, mobj)

    # -- playlists ---------------------------------------------------------------------------

    def _from_list_url(self, catalog: dict[str, Any], url: str, list_id: str) -> dict[str, Any]:
        video_id = parse_qs(url).get("v", [None])[0]
        if not self._yes_playlist(list_id, video_id):
            return self._link(WATCH_URL.format(video_id), YoutubeIE, video_id)
        if video_id:
            # The watch page embeds the playlist, which YoutubeTabIE follows to its own page.
            playlist_url = f"https://www.youtube.com/playlist?list={list_id}"
            return self._link(playlist_url, YoutubeTabIE, list_id)
        return self._playlist(catalog, list_id)

    def _playlist(self, catalog: dict[str, Any], list_id: str) -> dict[str, Any]:
        playlist = catalog.get("playlists", {}).get(list_id) or _uploads_playlist(catalog, list_id)
        if playlist is None:
            raise ExtractorError(
                "YouTube said: The playlist does not exist.", expected=True, video_id=list_id
            )
        channel = playlist.get("channel") or playlist.get("uploader")
        uploader_id = playlist.get("uploader_id")
        return self._listing(
            self._entries(catalog, list(playlist["entries"]), short=False),
            id=list_id,
            title=playlist["title"],
            description=playlist.get("description", ""),
            webpage_url=f"https://www.youtube.com/playlist?list={list_id}",
            playlist_count=len(playlist["entries"]),
            channel=channel,
            channel_id=playlist.get("channel_id"),
            channel_url=_channel_page(playlist.get("channel_id")),
            uploader=channel,
            uploader_id=uploader_id,
            uploader_url=f"https://www.youtube.com/{uploader_id}" if uploader_id else None,
            availability="public",
        )

    # -- channels ----------------------------------------------------------------------------

    def _from_channel_url(
        self, catalog: dict[str, Any], item_id: str, mobj: dict[str, str]
    ) -> dict[str, Any]:
        handle, channel = _find_channel(catalog, item_id)
        tab = mobj["tab"].lstrip("/")
        if not tab:
            return self._all_uploads(catalog, handle, channel, mobj["pre"])
        if not channel.get(tab) or tab not in CHANNEL_TABS:
            raise ExtractorError(f"This channel does not have a {tab} tab", expected=True)
        return self._channel_tab(catalog, handle, channel, tab, f"{mobj['pre']}/{tab}")

    def _all_uploads(
        self, catalog: dict[str, Any], handle: str, channel: dict[str, Any], channel_url: str
    ) -> dict[str, Any]:
        self.to_screen(
            "Downloading all uploads of the channel. "
            "To download only the videos in a specific tab, pass the tab's URL"
        )
        # Like YoutubeTabIE: with more than one tab the result nests one playlist per tab.
        entries = [
            self._channel_tab(catalog, handle, channel, name, f"{channel_url}/{name}")
            for name in CHANNEL_TABS
            if channel.get(name)
        ]
        if len(entries) == 1:
            return entries[0]
        uploads_url = f"https://www.youtube.com/playlist?list=UU{channel['channel_id'][2:]}"
        self.to_screen(
            "Downloading as multiple playlists, separated by tabs. "
            f"To download as a single playlist instead, pass {uploads_url}"
        )
        return self._listing(entries, **_channel_metadata(handle, channel))

    def _channel_tab(
        self,
        catalog: dict[str, Any],
        handle: str,
        channel: dict[str, Any],
        tab: str,
        tab_url: str,
    ) -> dict[str, Any]:
        metadata = _channel_metadata(handle, channel)
        metadata["title"] = f"{metadata['title']} - {tab.capitalize()}"
        entries = self._entries(catalog, list(channel[tab]), short=tab == "shorts")
        return self._listing(
            entries,
            **metadata,
            webpage_url=tab_url,
            extractor_key=YoutubeTabIE.ie_key(),
            extractor=YoutubeTabIE.IE_NAME,
        )

    # -- entries -----------------------------------------------------------------------------

    def _entries(
        self, catalog: dict[str, Any], video_ids: list[str], *, short: bool
    ) -> Iterator[dict[str, Any]]:
        # A generator, like YoutubeTabIE's paged entries: playlistend/playlist_items stop early.
        videos: dict[str, Any] = catalog.get("videos", {})
        for video_id in video_ids:
            video = videos.get(video_id, {"error": "unavailable"})
            if short:
                yield self._short_entry(video_id, video)
            else:
                yield self._video_entry(video_id, video)

    def _video_entry(self, video_id: str, video: dict[str, Any]) -> dict[str, Any]:
        """What YoutubeTabIE._extract_video makes of a playlist or channel-videos row."""
        error = video.get("error")
        if error:
            title = UNAVAILABLE_TITLES.get(error, "[Unavailable video]")
            return self._link(WATCH_URL.format(video_id), YoutubeIE, video_id, title)
        return self._link(
            WATCH_URL.format(video_id),
            YoutubeIE,
            video_id,
            video.get("title"),
            description=None,
            duration=video.get("duration"),
            channel_id=video.get("channel_id"),
            channel=video.get("channel"),
            channel_url=video.get("channel_url"),
            uploader=video.get("channel"),
            uploader_id=video.get("uploader_id"),
            uploader_url=video.get("uploader_url"),
            thumbnails=video.get("thumbnails", []),
            timestamp=self._approximate_timestamp(video),
            release_timestamp=None,
            availability=None,
            view_count=video.get("view_count"),
            live_status=None,
            channel_is_verified=video.get("channel_is_verified"),
        )

    def _short_entry(self, video_id: str, video: dict[str, Any]) -> dict[str, Any]:
        """What YoutubeTabIE makes of a shorts-tab lockup: no duration, no channel."""
        return self._link(
            f"https://www.youtube.com/shorts/{video_id}",
            YoutubeIE,
            video_id,
            video.get("title"),
            view_count=video.get("view_count"),
            thumbnails=video.get("thumbnails", []),
        )

    def _link(
        self, url: str, ie: type[Any], video_id: str, title: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """yt-dlp's ``url_result``, typed."""
        result: dict[str, Any] = self.url_result(url, ie, video_id, title, **fields)
        return result

    def _listing(self, entries: Iterable[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        """yt-dlp's ``playlist_result``, typed."""
        result: dict[str, Any] = self.playlist_result(entries, **fields)
        return result

    def _approximate_timestamp(self, video: dict[str, Any]) -> int | None:
        # YouTube rows only say "3 weeks ago"; yt-dlp turns that into a timestamp only when
        # asked (youtubetab:approximate_date), and never sets upload_date on flat entries.
        if not self._configuration_arg("approximate_date", ie_key=YoutubeTabIE):
            return None
        if video.get("timestamp") is not None:
            return int(video["timestamp"])
        if video.get("upload_date"):
            day = datetime.strptime(video["upload_date"], "%Y%m%d").replace(tzinfo=UTC)
            return int(day.timestamp())
        return None


def _find_channel(catalog: dict[str, Any], item_id: str) -> tuple[str, dict[str, Any]]:
    """The (handle, channel) an ``@handle`` or ``UC…`` URL id names; handles ignore case."""
    wanted = item_id.lower()
    for handle, channel in catalog.get("channels", {}).items():
        if wanted == handle.lower() or item_id == channel.get("channel_id"):
            return handle, channel
    raise ExtractorError(
        "YouTube said: This channel does not exist.", expected=True, video_id=item_id
    )


def _uploads_playlist(catalog: dict[str, Any], list_id: str) -> dict[str, Any] | None:
    """A channel's UU… uploads playlist: every video and short, newest first."""
    if not list_id.startswith("UU"):
        return None
    videos = catalog.get("videos", {})
    for handle, channel in catalog.get("channels", {}).items():
        if channel.get("channel_id") == f"UC{list_id[2:]}":
            uploads = sorted(
                [*channel.get("videos", []), *channel.get("shorts", [])],
                key=lambda video_id: videos.get(video_id, {}).get("upload_date", ""),
                reverse=True,
            )
            return {
                "title": f"Uploads from {channel['title']}",
                "channel": channel["title"],
                "channel_id": channel["channel_id"],
                "uploader_id": handle,
                "entries": uploads,
            }
    return None


def _channel_page(channel_id: str | None) -> str | None:
    return f"https://www.youtube.com/channel/{channel_id}" if channel_id else None


def _channel_metadata(handle: str, channel: dict[str, Any]) -> dict[str, Any]:
    """The fields YoutubeTabIE reads from a channel page header (its id is the UC… id)."""
    return {
        "id": channel["channel_id"],
        "title": channel["title"],
        "description": channel.get("description", ""),
        "channel": channel["title"],
        "channel_id": channel["channel_id"],
        "channel_url": _channel_page(channel["channel_id"]),
        "uploader": channel["title"],
        "uploader_id": handle,
        "uploader_url": f"https://www.youtube.com/{handle}",
        "channel_follower_count": channel.get("channel_follower_count"),
        "tags": channel.get("tags", []),
        "availability": "public",
    }


# Keep the production extractor names in info dicts and messages ("youtube", not "youtube+offline").
YoutubeOfflineIE.IE_NAME = YoutubeIE.IE_NAME
YoutubeTabOfflineIE.IE_NAME = YoutubeTabIE.IE_NAME
