"""The only place where request options become yt-dlp options: clients choose from enums
and bounded values, never raw yt-dlp options."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from yt_dlp.networking.impersonate import ImpersonateTarget
from yt_dlp.postprocessor import (
    FFmpegExtractAudioPP,
    FFmpegFixupDuplicateMoovPP,
    FFmpegFixupDurationPP,
    FFmpegFixupM3u8PP,
    FFmpegFixupM4aPP,
    FFmpegFixupStretchedPP,
    FFmpegFixupTimestampPP,
    FFmpegMergerPP,
    FFmpegMetadataPP,
    FFmpegThumbnailsConvertorPP,
    MoveFilesAfterDownloadPP,
)

from app.core.config import Settings
from app.downloads.engine.pacing import MIN_READ
from app.downloads.exceptions import JobFailure
from app.downloads.schemas import AudioFormat, JobOptions, OutputFormat, Quality
from app.jobs.models import JobStage
from app.storage.base import StorageUnavailable
from app.transcripts.conversion import YTDLP_SUBTITLE_FORMAT, TrackStyle
from app.transcripts.layout import cue_limits
from app.transcripts.planning import CaptionSource, TranscriptPlan
from app.youtube.cookies import CookieFileError, cookies_for_ytdlp
from app.youtube.potoken import with_provider

CAPTIONS_DIR = "captions"
COOKIE_JAR = ".cookies.txt"  # a dot file: never collected as a job's output
OUTPUT_TEMPLATE = "%(id)s.%(ext)s"
PROGRESS_LINE_SECONDS = 24 * 3600
_AUDIO_SORT = {AudioFormat.M4A: ["ext::m4a"], AudioFormat.OPUS: ["acodec:opus"]}
_VIDEO_SORT = {OutputFormat.MP4: ["ext:mp4:m4a"], OutputFormat.WEBM: ["ext:webm:webm"]}
# The stage of every yt-dlp post-processor our options can start, by the name its hook
# reports (`pp_key()`: "FFmpegMergerPP" reports "Merger"). The thumbnail is converted before
# the media download begins; the rest run after it: the ones we configure, the merger of
# separate video and audio, the fixups yt-dlp adds for what it finds in the media, and
# the move of the results out of the temporary names.
POSTPROCESSOR_STAGES: dict[str, JobStage] = {
    FFmpegThumbnailsConvertorPP.pp_key(): JobStage.DOWNLOADING,
    **{
        pp.pp_key(): JobStage.POSTPROCESSING
        for pp in (
            FFmpegMergerPP,
            FFmpegExtractAudioPP,
            FFmpegMetadataPP,
            MoveFilesAfterDownloadPP,
            FFmpegFixupStretchedPP,
            FFmpegFixupM4aPP,
            FFmpegFixupM3u8PP,
            FFmpegFixupTimestampPP,
            FFmpegFixupDurationPP,
            FFmpegFixupDuplicateMoovPP,
        )
    },
}


def format_selector(options: JobOptions) -> str:
    """Never above the asked height, else the best below it; the smallest when none is."""
    # Video-only plus audio-only first: on YouTube the single-file formats stop at 360p.
    if options.audio_only:
        return "wa/w" if options.quality is Quality.WORST else "ba/b"
    if options.quality is Quality.WORST:
        return "wv+wa/w"
    height = options.quality.max_height
    if height is None:
        return "bv+ba/b"
    limit = f"[height<={height}]"
    return f"bv{limit}+ba/b{limit}/wv+ba/w"


def format_sort(options: JobOptions) -> list[str]:
    """Prefer what the requested container or audio format holds natively (remux, not encode)."""
    if options.audio_only:
        return _AUDIO_SORT.get(options.effective_audio_format, [])
    return ["res", "fps", *_VIDEO_SORT.get(options.output_format, [])]


def _postprocessors(options: JobOptions) -> list[dict[str, Any]]:
    postprocessors: list[dict[str, Any]] = []
    if options.include_thumbnail:
        postprocessors.append(
            {"key": "FFmpegThumbnailsConvertor", "format": "jpg", "when": "before_dl"}
        )
    if options.audio_only:
        extract: dict[str, Any] = {
            "key": "FFmpegExtractAudio",
            "preferredcodec": options.effective_audio_format.value,
        }
        if options.audio_quality:
            extract["preferredquality"] = str(options.audio_quality)
        postprocessors.append(extract)
    if options.embed_metadata and options.downloads_media:
        postprocessors.append({"key": "FFmpegMetadata", "add_metadata": True, "add_chapters": True})
    return postprocessors


def postprocessing_steps(options: JobOptions, *, merged: bool) -> int:
    """How many post-processing steps a download is expected to take: yt-dlp's (a merge,
    the audio extraction, the metadata, the move) and ours after them (transcripts, the
    container, the verification) as one."""
    steps = [
        merged,
        options.audio_only,
        options.embed_metadata and options.downloads_media,
        True,  # MoveFiles
        True,  # ours
    ]
    return sum(steps)


def rewrites_media(options: JobOptions, *, merged: bool) -> bool:
    """Whether one of yt-dlp's post-processors we ask for always writes the media anew once
    it is downloaded (the merge of separate formats, the metadata): then hashing the
    downloaded file as it is written is work thrown away, and CPU the download itself could
    use. (The audio extraction keeps a file already in the asked format.)"""
    return merged or (options.embed_metadata and options.downloads_media)


def _merge_format(options: JobOptions) -> str | None:
    if options.audio_only:
        return None
    target = options.output_format.value
    # Matroska takes any codec pair; the result is put into the asked container afterwards.
    return target if options.output_format is OutputFormat.MKV else f"{target}/mkv"


def build_ydl_params(
    options: JobOptions, *, workdir: Path, settings: Settings, logger_: logging.Logger
) -> dict[str, Any]:
    return with_provider(
        _params(options, workdir=workdir, settings=settings, logger_=logger_), settings
    )


def _params(
    options: JobOptions, *, workdir: Path, settings: Settings, logger_: logging.Logger
) -> dict[str, Any]:
    return {
        "format": format_selector(options),
        "format_sort": format_sort(options),
        "merge_output_format": _merge_format(options),
        "skip_download": not options.downloads_media,
        "outtmpl": {"default": OUTPUT_TEMPLATE, "subtitle": f"{CAPTIONS_DIR}/{OUTPUT_TEMPLATE}"},
        # yt-dlp joins a relative temp path onto home: absolute, the .part files stay in
        # the job's directory whatever WORK_DIR looks like (./data/work by default).
        "paths": {"home": str(workdir.resolve()), "temp": str(workdir.resolve())},
        "restrictfilenames": True,
        "windowsfilenames": True,
        "noplaylist": True,
        "writeinfojson": True,
        "writethumbnail": options.include_thumbnail,
        # Which caption tracks to fetch is decided after extraction (subtitle_params).
        "writesubtitles": False,
        "writeautomaticsub": False,
        "subtitlesformat": YTDLP_SUBTITLE_FORMAT,
        "sleep_interval_subtitles": settings.subtitle_sleep_seconds,
        "max_filesize": settings.max_file_size_bytes,
        "retries": 10,
        "fragment_retries": 10,
        # DASH and HLS fragments at once; a single file is cut into ranges (engine.ranged).
        "concurrent_fragment_downloads": settings.download_connections,
        "extractor_retries": 3,
        "file_access_retries": 3,
        "socket_timeout": 30,
        "continuedl": True,
        "buffersize": MIN_READ,  # the first read; the next are paced to the speed
        "noresizebuffer": False,
        # yt-dlp's own downloaders only: they go through the egress guard, while ffmpeg or
        # other external downloaders would open connections of their own.
        "external_downloader": {"default": "native"},
        "cachedir": False,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        # yt-dlp formats a console progress line (two output templates over the whole info
        # dict) on every read, quiet or not; once a day is as good as never for a worker.
        "progress_delta": PROGRESS_LINE_SECONDS,
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "logger": YtDlpLogger(logger_),
        "postprocessors": _postprocessors(options),
    }


def impersonation_params(settings: Settings) -> dict[str, Any]:
    """yt-dlp's `impersonate` for YTDLP_IMPERSONATE (validated at start-up), else nothing."""
    if not settings.ytdlp_impersonate:
        return {}
    return {"impersonate": ImpersonateTarget.from_str(settings.ytdlp_impersonate)}


def private_cookie_jar(settings: Settings, directory: Path) -> str | None:
    """A per-run copy of the cookies an admin uploaded, else of YTDLP_COOKIES_FILE: yt-dlp
    writes cookies back when it ends, and concurrent jobs must not write over one shared
    file (nor over the upload). Raises JobFailure (invalid_cookies) for a file yt-dlp would
    refuse, and (storage_unavailable) when the uploaded cookies cannot be read."""
    try:
        text = cookies_for_ytdlp(settings)
    except CookieFileError as exc:
        raise JobFailure(str(exc), code="invalid_cookies", retryable=False) from None
    except StorageUnavailable as exc:
        raise JobFailure(
            f"The uploaded cookies could not be read: {exc}",
            code="storage_unavailable",
            retryable=True,
        ) from exc
    if text is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / COOKIE_JAR
    copy.touch(mode=0o600)
    copy.write_bytes(text)
    return str(copy)


def track_style(
    options: JobOptions, settings: Settings, *, title: str | None, page_url: str
) -> TrackStyle:
    """How a job's transcripts are laid out and written: caption tracks and recognised
    ones alike."""
    return TrackStyle(
        formats=options.subtitle_formats,
        limits=cue_limits(settings),
        drop_sound_labels=options.drop_sound_labels,
        title=title,
        page_url=page_url,
    )


def subtitle_params(plan: TranscriptPlan) -> dict[str, Any]:
    """Fetch exactly the planned tracks (yt-dlp reads the language list as patterns)."""
    sources = {track.source for track in plan.tracks}
    return {
        "writesubtitles": CaptionSource.MANUAL in sources,
        "writeautomaticsub": bool(sources - {CaptionSource.MANUAL}),
        "subtitleslangs": [re.escape(lang) for lang in plan.languages],
    }


# yt-dlp quotes the line of a cookie file it cannot load, value and all.
_COOKIE_FILE_LINE = re.compile(r"(cookies file '[^']*'): .*", re.IGNORECASE | re.DOTALL)


def without_cookie_lines(message: str) -> str:
    """`message` without the cookie-file line yt-dlp quotes when it cannot load the file."""
    return _COOKIE_FILE_LINE.sub(r"\1 (the line is not shown)", message)


class YtDlpLogger:
    """Routes yt-dlp's output to our logs instead of stdout."""

    def __init__(self, target: logging.Logger) -> None:
        self._target = target

    def debug(self, message: str) -> None:
        self._target.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        self._target.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        self._target.info("yt-dlp: %s", without_cookie_lines(message))

    def error(self, message: str) -> None:
        self._target.warning("yt-dlp: %s", without_cookie_lines(message))
