"""Offline stand-in for YouTube: fixture media + MediaServer + catalog for the yt-dlp plugin.

Typical use::

    with OfflineYouTube(tmp_path) as yt:
        yt.activate()                      # in-process yt-dlp, or
        env = {**os.environ, **yt.env()}   # for a worker subprocess (merge PYTHONPATH yourself)
        url = yt.video_url(STANDARD_VIDEO_ID)

Catalog (``yt.catalog``, saved to ``yt.catalog_path``)::

    {"version": 1, "base_url": "http://127.0.0.1:<port>",
     "videos": {"<id>": {<yt-dlp info dict fields: title, formats, subtitles, ...>},
                "<id>": {"error": "private" | "removed" | "unavailable" | ...},
                ...},
     "playlists": {"<list id>": {"title", "channel", ..., "entries": ["<id>", ...]}},
     "channels": {"@handle": {"channel_id": "UC…", "title", "videos": [...], "shorts": [...]}}}

Entries may also carry ``error_message`` (free text), ``extract_delay`` (seconds) and
``watch_page`` (a URL the extractor fetches first, through the run's proxy, as YoutubeIE
fetches the watch page: a 429 or a bot-check page there fails the extraction as on YouTube).
Playlists and channels are described in ``offline_playlists``; their playable videos are
copies of the 2 s ladder clip. Served layout: ``/media/<id>/<itag>.<ext>``,
``/vi/<id>/<name>.jpg``, ``/subs/<id>/{manual,auto_rolling}.<lang>.<ext>``,
``/watch-page/<id>.html``.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from .media import (
    LADDER_RUNGS,
    LADDER_THUMBNAILS,
    THUMBNAILS,
    MediaFile,
    MediaSet,
    ensure_media,
    probe_media,
)
from .media_server import MediaServer
from .offline_playlists import (
    insert_position,
    manual_en_subtitles,
    newest_first_index,
    owner_fields,
    playable_copy,
    write_captions,
)

STANDARD_VIDEO_ID = "aqz-KE-bpKQ"
SLOW_VIDEO_ID = "sl0wDownl0d"
LADDER_VIDEO_ID = "LaDdEr4kVid"
PRIVATE_VIDEO_ID = "privateVid1"
LIVE_VIDEO_ID = "liveNow0001"
WAS_LIVE_VIDEO_ID = "wasLive0001"
REMOVED_VIDEO_ID = "removedVid1"
# Valid id shape, deliberately absent from the catalog ("Video unavailable").
MISSING_VIDEO_ID = "missingVid1"
FIXTURE_VIDEO_IDS = (
    STANDARD_VIDEO_ID,
    SLOW_VIDEO_ID,
    LADDER_VIDEO_ID,
    PRIVATE_VIDEO_ID,
    REMOVED_VIDEO_ID,
)

# A 12-entry playlist: 10 cheap playable clips, a private and a removed video (positions 4, 9).
PLAYLIST_ID = "PLofflineFixturePlaylist1234567890"
MISSING_PLAYLIST_ID = "PLmissingFixturePlaylist1234567890"  # valid shape, not in the catalog
PLAYLIST_VIDEO_IDS = tuple(f"plVideo{number:04d}" for number in range(1, 11))
PLAYLIST_ENTRY_IDS = (
    *PLAYLIST_VIDEO_IDS[:3],
    PRIVATE_VIDEO_ID,
    *PLAYLIST_VIDEO_IDS[3:7],
    REMOVED_VIDEO_ID,
    *PLAYLIST_VIDEO_IDS[7:],
)
PLAYLIST_SUBTITLED_IDS = (PLAYLIST_VIDEO_IDS[0], PLAYLIST_VIDEO_IDS[1], PLAYLIST_VIDEO_IDS[5])
# Only this video's (manual, English) transcript contains the word, for library search tests.
UNIQUE_TRANSCRIPT_WORD = "xylophone"
UNIQUE_WORD_VIDEO_ID = PLAYLIST_VIDEO_IDS[1]

CHANNEL_HANDLE = "@offlinechannel"
CHANNEL_ID = "UCofflineChannelFixture0"
CHANNEL_TITLE = "Offline Channel"
MISSING_CHANNEL_HANDLE = "@nosuchchannel"
# Channel uploads, newest first as the videos tab lists them.
CHANNEL_VIDEO_DATES = {
    "chVideo0006": "20250610",
    "chVideo0005": "20250301",
    "chVideo0004": "20241115",
    "chVideo0003": "20240720",
    "chVideo0002": "20240205",
    "chVideo0001": "20230910",
}
CHANNEL_VIDEO_IDS = tuple(CHANNEL_VIDEO_DATES)
CHANNEL_SHORT_DATES = {"chShort0002": "20250415", "chShort0001": "20241201"}
CHANNEL_SHORT_IDS = tuple(CHANNEL_SHORT_DATES)

CATALOG_ENV = "YDS_OFFLINE_CATALOG"
DEFAULT_SLOW_RATE = 131072
HTTP_CHUNK_SIZE = 10 << 20  # what YoutubeIE puts in downloader_options for https formats

TESTS_DIR = Path(__file__).resolve().parent.parent
PLUGIN_DIR = TESTS_DIR / "plugins"
PLUGIN_MODULE = "yt_dlp_plugins.extractor.youtube_offline"
# yt-dlp extractor -> the plugin class that overrides it.
OVERRIDDEN_EXTRACTORS = {"YoutubeIE": "YoutubeOfflineIE", "YoutubeTabIE": "YoutubeTabOfflineIE"}
CAPTIONS_DIR = TESTS_DIR / "fixtures" / "captions"

_CHANNEL_ID = "UCSMOQeBJ2RAnuFungnQOxLg"
_UPLOAD = datetime(2024, 1, 15, 16, 30, tzinfo=UTC)

# Ranks from YoutubeIE's qualities() list, so format sorting behaves like the real site.
_QUALITY = {144: 0, 240: 5, 360: 6, 480: 7, 720: 8, 1080: 9, 1440: 10, 2160: 11}
_AUDIO_QUALITY = 3  # audio_quality_medium
_LANG_NAMES = {"en": "English", "de": "German"}


def _video_format(
    itag: str, url: str, media: MediaFile, *, progressive: bool = False
) -> dict[str, Any]:
    height = media.height or 0
    fmt: dict[str, Any] = {
        "format_id": itag,
        "format_note": f"{height}p",
        "url": url,
        "ext": Path(media.name).suffix.lstrip("."),
        "vcodec": media.vcodec,
        "acodec": media.acodec,
        "width": media.width,
        "height": height,
        "fps": round(media.fps) if media.fps else None,
        "tbr": media.tbr,
        "filesize": media.size,
        "quality": _QUALITY.get(height, 6),
        "dynamic_range": "SDR",
        "source_preference": -1,
        "has_drm": False,
        "downloader_options": {"http_chunk_size": HTTP_CHUNK_SIZE},
    }
    if progressive:
        fmt.update(asr=media.asr, audio_channels=media.audio_channels, language="en")
    else:
        fmt.update(vbr=media.tbr, container=f"{fmt['ext']}_dash")
    return fmt


def _audio_format(itag: str, url: str, media: MediaFile) -> dict[str, Any]:
    ext = Path(media.name).suffix.lstrip(".")
    return {
        "format_id": itag,
        "format_note": "medium",
        "url": url,
        "ext": ext,
        "vcodec": "none",
        "acodec": media.acodec,
        "abr": media.tbr,
        "tbr": media.tbr,
        "asr": media.asr,
        "audio_channels": media.audio_channels,
        "filesize": media.size,
        "quality": _AUDIO_QUALITY,
        "container": f"{ext}_dash",
        "language": "en",
        "source_preference": -1,
        "has_drm": False,
        "downloader_options": {"http_chunk_size": HTTP_CHUNK_SIZE},
    }


class OfflineYouTube:
    """Serve the fixture videos from 127.0.0.1 and describe them in a catalog for the plugin."""

    def __init__(
        self,
        workdir: Path,
        *,
        slow_rate: int = DEFAULT_SLOW_RATE,
        media_cache: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.site_root = self.workdir / "site"
        self.catalog_path = self.workdir / "catalog.json"
        self.slow_rate = slow_rate
        self._media_cache = media_cache
        self._media: MediaSet | None = None
        self._server: MediaServer | None = None
        self.catalog: dict[str, Any] = {}
        self._playable_template: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OfflineYouTube:
        """Generate or reuse media, publish it, start the server and write the catalog."""
        if self._server is not None:
            return self
        self._media = ensure_media(self._media_cache)
        shutil.rmtree(self.site_root, ignore_errors=True)
        self.site_root.mkdir(parents=True)
        self._publish_files(self._media)
        self._publish_playlist_captions()
        self._server = MediaServer(self.site_root).start()
        self.catalog = self._build_catalog(self._media)
        self.save_catalog()
        self._write_watch_page()
        return self

    def stop(self) -> None:
        """Stop the media server (files and catalog stay on disk)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> OfflineYouTube:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- accessors -------------------------------------------------------------------------

    @property
    def server(self) -> MediaServer:
        """The running MediaServer."""
        if self._server is None:
            raise RuntimeError("OfflineYouTube is not running")
        return self._server

    @property
    def base_url(self) -> str:
        """Base URL of the media server."""
        return self.server.base_url

    @property
    def media(self) -> MediaSet:
        """The cached fixture media set."""
        if self._media is None:
            raise RuntimeError("OfflineYouTube is not running")
        return self._media

    def video_url(self, video_id: str, *, list_id: str | None = None) -> str:
        """Canonical watch URL, e.g. ``https://www.youtube.com/watch?v=<id>[&list=<list id>]``."""
        url = f"https://www.youtube.com/watch?v={video_id}"
        return f"{url}&list={list_id}" if list_id else url

    def playlist_url(self, list_id: str = PLAYLIST_ID) -> str:
        """``https://www.youtube.com/playlist?list=<list id>``."""
        return f"https://www.youtube.com/playlist?list={list_id}"

    def channel_url(self, channel: str = CHANNEL_HANDLE, tab: str | None = None) -> str:
        """``/@handle[/tab]``, or ``/channel/UC…[/tab]`` when given a channel id."""
        path = channel if channel.startswith("@") else f"channel/{channel}"
        return f"https://www.youtube.com/{path}" + (f"/{tab}" if tab else "")

    def short_url(self, video_id: str) -> str:
        """``https://youtu.be/<id>`` form."""
        return f"https://youtu.be/{video_id}"

    def shorts_url(self, video_id: str) -> str:
        """``https://www.youtube.com/shorts/<id>`` form."""
        return f"https://www.youtube.com/shorts/{video_id}"

    def watch_page_url(self, video_id: str = STANDARD_VIDEO_ID) -> str:
        """Plain HTML page with a <video> tag, handled by yt-dlp's generic extractor."""
        return self.server.url(f"watch-page/{video_id}.html")

    def format_path(self, video_id: str, format_id: str) -> Path:
        """Local file behind a catalog format, for byte-for-byte comparisons."""
        for fmt in self.catalog["videos"][video_id]["formats"]:
            if fmt["format_id"] == format_id:
                url = str(fmt["url"]).split("?")[0]
                return self.site_root / url.removeprefix(self.base_url + "/")
        raise KeyError(f"{video_id} has no format {format_id}")

    def env(self) -> dict[str, str]:
        """Variables a yt-dlp subprocess needs; callers merge PYTHONPATH with their own."""
        return {"PYTHONPATH": str(PLUGIN_DIR), CATALOG_ENV: str(self.catalog_path)}

    def activate(self) -> None:
        """Make yt-dlp in the current process use the plugin and this catalog."""
        activate_in_process(self.catalog_path)

    # -- catalog editing -------------------------------------------------------------------

    def save_catalog(self) -> None:
        """Atomically write ``self.catalog`` (the plugin re-reads it on every extraction)."""
        tmp = self.catalog_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.catalog, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.catalog_path)

    def set_entry(self, video_id: str, entry: dict[str, Any]) -> None:
        """Replace (or add) a catalog entry and save."""
        self.catalog["videos"][video_id] = entry
        self.save_catalog()

    def update_entry(self, video_id: str, **fields: Any) -> None:
        """Merge fields (e.g. ``error="private"``, ``extract_delay=2``) into an entry and save."""
        self.catalog["videos"][video_id].update(fields)
        self.save_catalog()

    def add_playlist(
        self, list_id: str, video_ids: Sequence[str], *, title: str | None = None
    ) -> None:
        """Create a playlist (ids the catalog lacks become new 2 s clips) and save.

        A test that edits a playlist on a shared site should edit its own one.
        """
        for number, video_id in enumerate(video_ids, start=1):
            self._ensure_playable(video_id, f"202405{min(number, 28):02d}")
        self.catalog["playlists"][list_id] = {
            "title": title or f"Playlist {list_id} (offline fixture)",
            "channel": CHANNEL_TITLE,
            "channel_id": CHANNEL_ID,
            "uploader_id": CHANNEL_HANDLE,
            "entries": list(video_ids),
        }
        self.save_catalog()

    def add_channel(
        self, handle: str, channel_id: str, uploads: Mapping[str, str], *, title: str = ""
    ) -> None:
        """Create a channel whose videos tab holds ``uploads`` (video id -> YYYYMMDD) and save."""
        channel = {"channel_id": channel_id, "title": title or handle.lstrip("@"), "videos": []}
        self.catalog["channels"][handle] = channel
        for video_id, upload_date in uploads.items():
            self.add_channel_video(handle, video_id, upload_date)

    def add_playlist_entry(
        self,
        list_id: str,
        video_id: str,
        position: int | None = None,
        *,
        upload_date: str | None = None,
    ) -> None:
        """Put a video into a playlist at 1-based ``position`` (None: append) and save.

        An id the catalog lacks becomes a new playable 2 s clip uploaded on ``upload_date``
        (default: today), like a fresh upload since the playlist was last fetched.
        """
        self._ensure_playable(video_id, upload_date or _today())
        entries: list[str] = self.catalog["playlists"][list_id]["entries"]
        entries.insert(insert_position(entries, position), video_id)
        self.save_catalog()

    def add_channel_video(self, handle: str, video_id: str, upload_date: str) -> None:
        """Upload a new 2 s clip to a channel's videos tab (kept newest first) and save."""
        channel = self.catalog["channels"][handle]
        self._ensure_playable(video_id, upload_date, **owner_fields(handle, channel))
        videos: list[str] = channel["videos"]
        videos.insert(newest_first_index(videos, upload_date, self.catalog["videos"]), video_id)
        self.save_catalog()

    def add_video_from_files(
        self, video_id: str, *, progressive: Path, audio: Path, title: str = ""
    ) -> None:
        """A new video without captions that plays these files (served under its id):
        `progressive` as itag 18 (video and audio), `audio` as itag 140, and saves."""
        folder = self.site_root / "media" / video_id
        folder.mkdir(parents=True, exist_ok=True)
        _copy(progressive, folder / "18.mp4")
        _copy(audio, folder / "140.m4a")
        media = probe_media(self.site_root / "media", f"{video_id}/18.mp4")
        sound = probe_media(self.site_root / "media", f"{video_id}/140.m4a")
        entry = playable_copy(
            self._playable_template,
            video_id,
            title=title or f"Spoken clip {video_id} (offline fixture)",
            upload_date="20240601",
            duration=sound.duration,
            formats=[
                _audio_format("140", self._url(f"media/{video_id}/140.m4a"), sound),
                _video_format("18", self._url(f"media/{video_id}/18.mp4"), media, progressive=True),
            ],
        )
        self.set_entry(video_id, entry)

    def _ensure_playable(self, video_id: str, upload_date: str, **fields: Any) -> None:
        if video_id in self.catalog["videos"]:
            return
        title = f"New upload {video_id} (offline fixture)"
        self.catalog["videos"][video_id] = playable_copy(
            self._playable_template, video_id, title=title, upload_date=upload_date, **fields
        )

    # -- building --------------------------------------------------------------------------

    def _publish_files(self, media: MediaSet) -> None:
        clips = {"standard": STANDARD_VIDEO_ID, "slow": SLOW_VIDEO_ID, "ladder": LADDER_VIDEO_ID}
        for name in media.files:
            clip, _, filename = name.partition("/")
            video_id = clips[clip]
            folder = "vi" if filename.endswith(".jpg") else "media"
            _copy(media.path(name), self.site_root / folder / video_id / filename)
        for video_id in (STANDARD_VIDEO_ID, SLOW_VIDEO_ID):
            # The site's own tracks; real-world files from other projects sit in real/.
            for source in CAPTIONS_DIR.iterdir():
                if source.is_file():
                    _copy(source, self.site_root / "subs" / video_id / source.name)

    def _publish_playlist_captions(self) -> None:
        source = CAPTIONS_DIR / "manual.en.vtt"
        for video_id in PLAYLIST_SUBTITLED_IDS:
            swap = ("bread", UNIQUE_TRANSCRIPT_WORD) if video_id == UNIQUE_WORD_VIDEO_ID else None
            write_captions(source, self.site_root / "subs" / video_id / source.name, replace=swap)

    def _url(self, path: str, **query: str | int) -> str:
        return self.server.url(path, **query)

    def _thumbnails(
        self, video_id: str, sizes: tuple[tuple[str, int, int], ...]
    ) -> list[dict[str, Any]]:
        return [
            {
                "id": str(index),
                "url": self._url(f"vi/{video_id}/{name}.jpg"),
                "width": width,
                "height": height,
                "resolution": f"{width}x{height}",
                "preference": index - len(sizes),
            }
            for index, (name, width, height) in enumerate(sizes)
        ]

    def _subs(self, video_id: str, *, manual: bool, auto: bool) -> dict[str, Any]:
        subtitles: dict[str, Any] = {}
        captions: dict[str, Any] = {}
        if manual:
            subtitles = {
                lang: [
                    {
                        "ext": "vtt",
                        "url": self._url(f"subs/{video_id}/manual.{lang}.vtt"),
                        "name": _LANG_NAMES[lang],
                    }
                ]
                for lang in ("en", "de")
            }
        if auto:
            for key, lang, name in (
                ("en-orig", "en", "English (Original)"),
                ("en", "en", "English"),
                ("de", "de", "German"),
            ):
                captions[key] = [
                    {
                        "ext": ext,
                        "url": self._url(f"subs/{video_id}/auto_rolling.{lang}.{ext}"),
                        "name": name,
                    }
                    for ext in ("json3", "vtt")
                ]
            # YouTube lists machine translations among the automatic captions, with tlang=.
            captions["fr"] = [
                {
                    "ext": "json3",
                    "url": self._url(f"subs/{video_id}/translated.fr.json3", tlang="fr"),
                    "name": "French",
                }
            ]
        return {"subtitles": subtitles, "automatic_captions": captions}

    def _metadata(self, video_id: str, title: str, duration: float) -> dict[str, Any]:
        return {
            "id": video_id,
            "title": title,
            "fulltitle": title,
            "description": (
                "Big Buck Bunny tells the story of a giant rabbit with a heart bigger than himself."
                "\n\nOffline test fixture \u2013 not the real film.\n"
                "More: https://peach.blender.org/ \u2022 #animation #opensource"
            ),
            "channel": "Blender",
            "channel_id": _CHANNEL_ID,
            "channel_url": f"https://www.youtube.com/channel/{_CHANNEL_ID}",
            "channel_follower_count": 1_350_000,
            "channel_is_verified": True,
            "uploader": "Blender",
            "uploader_id": "@BlenderOfficial",
            "uploader_url": "https://www.youtube.com/@BlenderOfficial",
            "duration": round(duration),
            "upload_date": _UPLOAD.strftime("%Y%m%d"),
            "timestamp": int(_UPLOAD.timestamp()),
            "view_count": 1_234_567,
            "like_count": 54_321,
            "comment_count": 987,
            "tags": ["big buck bunny", "blender", "open movie", "animation"],
            "categories": ["Film & Animation"],
            "age_limit": 0,
            "live_status": "not_live",
            "is_live": False,
            "was_live": False,
            "availability": "public",
            "playable_in_embed": True,
            "media_type": "video",
        }

    def _build_catalog(self, media: MediaSet) -> dict[str, Any]:
        std, slow, lad = STANDARD_VIDEO_ID, SLOW_VIDEO_ID, LADDER_VIDEO_ID
        rate = self.slow_rate

        def path(video_id: str, filename: str) -> str:
            return f"media/{video_id}/{filename}"

        standard = {
            **self._metadata(
                std,
                "Big Buck Bunny: 60fps / 4K \u2713 (offline fixture)",
                media["standard/134.mp4"].duration,
            ),
            "thumbnails": self._thumbnails(std, THUMBNAILS),
            "thumbnail": self._url(f"vi/{std}/hqdefault.jpg"),
            "formats": [
                _audio_format("140", self._url(path(std, "140.m4a")), media["standard/140.m4a"]),
                _audio_format("251", self._url(path(std, "251.webm")), media["standard/251.webm"]),
                _video_format(
                    "18",
                    self._url(path(std, "18.mp4")),
                    media["standard/18.mp4"],
                    progressive=True,
                ),
                _video_format("134", self._url(path(std, "134.mp4")), media["standard/134.mp4"]),
                _video_format("243", self._url(path(std, "243.webm")), media["standard/243.webm"]),
            ],
            "chapters": [
                {"start_time": 0.0, "end_time": 7.0, "title": "Intro"},
                {"start_time": 7.0, "end_time": 15.0, "title": "The dough"},
                {"start_time": 15.0, "end_time": 20.0, "title": "Baking"},
            ],
            **self._subs(std, manual=True, auto=True),
        }
        slow_entry = {
            **self._metadata(
                slow,
                "Slow download: Big Buck Bunny / throttled \u23f3 (offline fixture)",
                media["slow/134.mp4"].duration,
            ),
            "thumbnails": self._thumbnails(slow, THUMBNAILS),
            "thumbnail": self._url(f"vi/{slow}/hqdefault.jpg"),
            "formats": [
                _audio_format(
                    "140", self._url(path(slow, "140.m4a"), rate=rate), media["slow/140.m4a"]
                ),
                _video_format(
                    "134", self._url(path(slow, "134.mp4"), rate=rate), media["slow/134.mp4"]
                ),
            ],
            **self._subs(slow, manual=False, auto=True),
        }
        ladder = {
            **self._metadata(
                lad,
                "Resolution ladder 144p\u21922160p: Big Buck Bunny / 4K \u2713 (offline fixture)",
                media["ladder/134.mp4"].duration,
            ),
            "thumbnails": self._thumbnails(lad, LADDER_THUMBNAILS),
            "thumbnail": self._url(f"vi/{lad}/maxresdefault.jpg"),
            "formats": [
                _audio_format("140", self._url(path(lad, "140.m4a")), media["ladder/140.m4a"]),
                _audio_format("251", self._url(path(lad, "251.webm")), media["ladder/251.webm"]),
                *(
                    _video_format(
                        itag, self._url(path(lad, f"{itag}.mp4")), media[f"ladder/{itag}.mp4"]
                    )
                    for itag, _, _ in LADDER_RUNGS
                ),
            ],
            "subtitles": {},
            "automatic_captions": {},
        }
        live_now = {
            **standard,
            "title": "Live now (offline fixture)",
            "is_live": True,
            "live_status": "is_live",
            "duration": None,
        }
        was_live = {
            **standard,
            "title": "Finished live stream (offline fixture)",
            "was_live": True,
            "live_status": "was_live",
        }
        self._playable_template = ladder
        return {
            "version": 1,
            "base_url": self.base_url,
            "videos": {
                std: standard,
                LIVE_VIDEO_ID: {**live_now, "id": LIVE_VIDEO_ID},
                WAS_LIVE_VIDEO_ID: {**was_live, "id": WAS_LIVE_VIDEO_ID},
                slow: slow_entry,
                lad: ladder,
                PRIVATE_VIDEO_ID: {"error": "private"},
                REMOVED_VIDEO_ID: {"error": "removed"},
                **self._playlist_videos(ladder),
                **self._channel_videos(ladder),
            },
            "playlists": {
                PLAYLIST_ID: {
                    "title": "Offline fixture playlist: ten clips, one private, one removed",
                    "description": "Cheap 2 s clips for playlist expansion tests.",
                    "channel": "Blender",
                    "channel_id": _CHANNEL_ID,
                    "uploader_id": "@BlenderOfficial",
                    "entries": list(PLAYLIST_ENTRY_IDS),
                }
            },
            "channels": {CHANNEL_HANDLE: _offline_channel()},
        }

    def _playlist_videos(self, template: dict[str, Any]) -> dict[str, Any]:
        videos = {}
        for number, video_id in enumerate(PLAYLIST_VIDEO_IDS, start=1):
            videos[video_id] = playable_copy(
                template,
                video_id,
                title=f"Playlist clip {number:02d} (offline fixture)",
                upload_date=f"202403{number:02d}",
            )
            if video_id in PLAYLIST_SUBTITLED_IDS:
                subs_url = self._url(f"subs/{video_id}/manual.en.vtt")
                videos[video_id]["subtitles"] = manual_en_subtitles(subs_url)
        return videos

    def _channel_videos(self, template: dict[str, Any]) -> dict[str, Any]:
        owner = owner_fields(CHANNEL_HANDLE, _offline_channel())
        uploads = {
            **{vid: (f"Upload of {day}", day) for vid, day in CHANNEL_VIDEO_DATES.items()},
            **{vid: (f"Short of {day} #shorts", day) for vid, day in CHANNEL_SHORT_DATES.items()},
        }
        return {
            video_id: playable_copy(
                template, video_id, title=f"{title} (offline fixture)", upload_date=day, **owner
            )
            for video_id, (title, day) in uploads.items()
        }

    def _write_watch_page(self) -> None:
        entry = self.catalog["videos"][STANDARD_VIDEO_ID]
        title = html.escape(entry["title"])
        page = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
            f"<title>{title}</title>\n"
            f'<meta property="og:title" content="{title}">\n'
            "</head><body>\n"
            f'<video controls poster="/vi/{STANDARD_VIDEO_ID}/hqdefault.jpg">'
            f'<source src="/media/{STANDARD_VIDEO_ID}/18.mp4" type="video/mp4"></video>\n'
            "</body></html>\n"
        )
        target = self.site_root / "watch-page" / f"{STANDARD_VIDEO_ID}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")


def _offline_channel() -> dict[str, Any]:
    return {
        "channel_id": CHANNEL_ID,
        "title": CHANNEL_TITLE,
        "description": "Offline fixture channel: dated uploads and a shorts tab.",
        "channel_follower_count": 4200,
        "videos": list(CHANNEL_VIDEO_IDS),
        "shorts": list(CHANNEL_SHORT_IDS),
    }


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


def _copy(source: Path, target: Path) -> None:
    # A copy, not a hard link: a test that damages a served file must not poison the cache.
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def activate_in_process(catalog_path: Path) -> None:
    """Point the plugin at ``catalog_path`` and make this process's yt-dlp use it.

    Safe to call before or after yt-dlp has loaded plugins; YoutubeDL instances created
    before the call keep their already-instantiated extractor.
    """
    os.environ[CATALOG_ENV] = str(catalog_path)
    plugin_dir = str(PLUGIN_DIR)
    if plugin_dir not in sys.path:
        sys.path.insert(0, plugin_dir)

    from yt_dlp import globals as yt_globals

    if not yt_globals.all_plugins_loaded.value:
        return  # the first YoutubeDL() scans sys.path and picks the plugin up
    if PLUGIN_MODULE in sys.modules:
        return
    # yt-dlp scanned for plugins before our directory was on sys.path. Drop its cached
    # namespace packages so the import below finds tests/plugins, then import the module:
    # defining the classes registers the overrides.
    importlib.invalidate_caches()
    plugin = importlib.import_module(PLUGIN_MODULE)
    registry: dict[str, Any] = yt_globals.extractors.value
    for name, override in OVERRIDDEN_EXTRACTORS.items():
        _register_override(registry, name, getattr(plugin, override))


def _register_override(registry: dict[str, Any], name: str, override: Any) -> None:
    current = registry.get(name)
    if current is None:
        return
    if "_real_class" in vars(current):
        del current._real_class  # lazy extractor cached the original class
    elif current is getattr(override, "__wrapped__", None):
        registry[name] = override  # YTDLP_NO_LAZY_EXTRACTORS: the registry holds classes


def deactivate_in_process() -> None:
    """Unset the catalog variable: the plugin then defers to the real YoutubeIE."""
    os.environ.pop(CATALOG_ENV, None)
