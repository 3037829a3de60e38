"""Runs yt-dlp for one job: the only place where request options become yt-dlp options (rule 9)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yt_dlp
from yt_dlp.utils import DownloadError, ExtractorError

from app.core.config import Settings
from app.downloads.exceptions import JobCanceled, JobFailure, LeaseLost
from app.downloads.media import probe_media
from app.downloads.models import FileKind, JobStage
from app.downloads.schemas import JobOptions, Quality
from app.progress.tracker import ProgressTracker

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({"mp4", "webm", "mkv", "mov"})
AUDIO_EXTENSIONS = frozenset({"m4a", "mp3", "opus", "ogg", "wav", "flac", "aac"})
SUBTITLE_EXTENSIONS = frozenset({"vtt", "srt", "ass", "ttml", "json3", "srv3", "lrc"})
THUMBNAIL_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp"})
LEFTOVER_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp")
_INTERMEDIATE = re.compile(r"\.f[\w-]+\.\w+$")  # unmerged "id.f137.mp4" parts
# Post-processors that run before the media download (thumbnail conversion) must not
# move the job's stage to postprocessing.
_AFTER_DOWNLOAD_POSTPROCESSORS = frozenset(
    {
        "Merger",
        "FFmpegMerger",
        "FFmpegVideoRemuxer",
        "FFmpegVideoConvertor",
        "FFmpegExtractAudio",
        "FFmpegMetadata",
        "FFmpegEmbedSubtitle",
        "EmbedThumbnail",
        "FFmpegFixupM4a",
        "FFmpegFixupStretched",
        "FFmpegFixupDuplicateMoov",
        "FFmpegFixupTimestamp",
        "FFmpegFixupDuration",
        "FFmpegFixupM3u8",
    }
)
StopCheck = Callable[[], None]
MetadataSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    kind: FileKind
    format: str
    language: str | None = None


@dataclass
class DownloadResult:
    video_id: str
    files: list[DownloadedFile] = field(default_factory=list)


def format_selector(options: JobOptions) -> str:
    """yt-dlp format expression: never above the asked height, else the best below it."""
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


def _format_sort(options: JobOptions) -> list[str]:
    # Prefer codecs the requested container holds natively so the merge is a remux.
    if options.audio_only:
        return []
    return {"mp4": ["res", "fps", "ext:mp4:m4a"], "webm": ["res", "fps", "ext:webm:webm"]}.get(
        options.output_format.value, ["res", "fps"]
    )


def build_ydl_params(
    options: JobOptions, *, workdir: Path, settings: Settings, logger_: logging.Logger
) -> dict[str, Any]:
    postprocessors: list[dict[str, Any]] = []
    if options.include_thumbnail:
        postprocessors.append(
            {"key": "FFmpegThumbnailsConvertor", "format": "jpg", "when": "before_dl"}
        )
    if options.audio_only:
        postprocessors.append({"key": "FFmpegExtractAudio", "preferredcodec": "m4a"})
    else:
        postprocessors.append(
            {"key": "FFmpegVideoRemuxer", "preferedformat": options.output_format.value}
        )
    return {
        "format": format_selector(options),
        "format_sort": _format_sort(options),
        "merge_output_format": None if options.audio_only else options.output_format.value,
        "outtmpl": {"default": "%(id)s.%(ext)s"},
        "paths": {"home": str(workdir), "temp": str(workdir)},
        "restrictfilenames": True,
        "windowsfilenames": True,
        "noplaylist": True,
        "writeinfojson": True,
        "writethumbnail": options.include_thumbnail,
        "writesubtitles": options.include_transcription,
        "writeautomaticsub": options.include_transcription,
        "subtitleslangs": options.subtitle_languages,
        "subtitlesformat": "vtt/best",
        "max_filesize": settings.max_file_size_bytes,
        "retries": 10,
        "fragment_retries": 10,
        "extractor_retries": 3,
        "file_access_retries": 3,
        "socket_timeout": 30,
        "continuedl": True,
        "cachedir": False,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "logger": _YtDlpLogger(logger_),
        "postprocessors": postprocessors,
    }


class _YtDlpLogger:
    """Routes yt-dlp's output to our logs instead of stdout."""

    def __init__(self, target: logging.Logger) -> None:
        self._target = target

    def debug(self, message: str) -> None:
        self._target.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        self._target.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        self._target.info("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        self._target.warning("yt-dlp: %s", message)


def classify_error(exc: BaseException) -> JobFailure:
    """Map a yt-dlp failure onto a stable code; permanent ones are never retried."""
    message = re.sub(r"^ERROR:\s*(\[[^\]]+\]\s*)?([\w-]+:\s*)?", "", str(exc)).strip()
    lowered = message.lower()
    table: list[tuple[tuple[str, ...], str, bool]] = [
        (("private video",), "video_private", False),
        (("members-only", "join this channel"), "members_only", False),
        (
            ("sign in to confirm your age", "age-restricted", "inappropriate for some users"),
            "age_restricted",
            False,
        ),
        (
            ("not available in your country", "geo restrict", "geo-restrict"),
            "geo_restricted",
            False,
        ),
        (
            (
                "removed by the uploader",
                "video unavailable",
                "has been removed",
                "account associated",
            ),
            "video_unavailable",
            False,
        ),
        (
            (
                "http error 429",
                "too many requests",
                "confirm you're not a bot",
                "confirm you\u2019re not a bot",
            ),
            "throttled",
            True,
        ),
        (("unsupported url",), "unsupported_url", False),
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
            ),
            "network_error",
            True,
        ),
    ]
    for needles, code, retryable in table:
        if any(needle in lowered for needle in needles):
            return JobFailure(message, code=code, retryable=retryable)
    return JobFailure(message or "The download failed.", code="download_failed")


def _hook_exception(exc: BaseException) -> BaseException | None:
    """yt-dlp wraps what our hooks raise (in DownloadError.exc_info or as a context); find it."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (JobCanceled, LeaseLost, JobFailure)):
            return current
        exc_info = getattr(current, "exc_info", None)
        linked = (exc_info[1] if exc_info else None, current.__cause__, current.__context__)
        pending.extend(e for e in linked if isinstance(e, BaseException))
    return None


class YtDlpRunner:
    """Downloads one URL into `workdir`, reporting progress and honouring stop checks."""

    def __init__(
        self,
        *,
        settings: Settings,
        tracker: ProgressTracker,
        check_stop: StopCheck,
        on_metadata: MetadataSink,
    ) -> None:
        self._settings = settings
        self._tracker = tracker
        self._check_stop = check_stop
        self._on_metadata = on_metadata
        self._media_started = False

    def run(self, url: str, options: JobOptions, workdir: Path) -> DownloadResult:
        workdir.mkdir(parents=True, exist_ok=True)
        params = build_ydl_params(options, workdir=workdir, settings=self._settings, logger_=logger)
        params["progress_hooks"] = [self._on_progress]
        params["postprocessor_hooks"] = [self._on_postprocess]
        try:
            with yt_dlp.YoutubeDL(params) as ydl:
                info = ydl.extract_info(url, download=False)
                self._check_stop()
                self._accept(info, options)
                self._tracker.set_stage(JobStage.DOWNLOADING)
                ydl.process_ie_result(info, download=True)
        except Exception as exc:
            ours = _hook_exception(exc)
            if ours is not None:
                raise ours from None
            if isinstance(exc, (DownloadError, ExtractorError)):
                raise classify_error(exc) from exc
            raise
        self._check_stop()
        self._tracker.set_stage(JobStage.POSTPROCESSING)
        result = collect_outputs(workdir, info["id"], audio_only=options.audio_only)
        self._verify(result, info, options)
        return result

    def _accept(self, info: dict[str, Any], options: JobOptions) -> None:
        if info.get("_type", "video") != "video":
            raise JobFailure(
                "Playlists are not supported by this endpoint.", code="unsupported_url"
            )
        if info.get("is_live"):
            raise JobFailure(
                "Live streams that are still running cannot be downloaded.",
                code="live_not_supported",
            )
        selected = info.get("requested_formats") or [info]
        sizes = {
            str(f.get("format_id")): f.get("filesize") or f.get("filesize_approx") for f in selected
        }
        known = [int(s) for s in sizes.values() if s]
        if known and sum(known) > self._settings.max_file_size_bytes:
            raise JobFailure(
                f"The download would be {sum(known) / 1024**3:.2f} GB, over the "
                f"{self._settings.max_file_size_gb:g} GB limit.",
                code="file_too_large",
            )
        self._tracker.expect({k: int(v) if v else None for k, v in sizes.items()})
        self._on_metadata(describe(info, options))

    def _on_progress(self, status: dict[str, Any]) -> None:
        self._check_stop()
        format_id = (status.get("info_dict") or {}).get("format_id")
        if format_id is None:
            return  # subtitle downloads report through the same hook
        self._media_started = True
        self._tracker.update_part(
            str(format_id),
            done=int(status.get("downloaded_bytes") or 0),
            total=status.get("total_bytes") or status.get("total_bytes_estimate"),
            speed=status.get("speed"),
            finished=status.get("status") == "finished",
        )

    def _on_postprocess(self, status: dict[str, Any]) -> None:
        self._check_stop()
        if self._media_started and status.get("postprocessor") in _AFTER_DOWNLOAD_POSTPROCESSORS:
            self._tracker.set_stage(JobStage.POSTPROCESSING)

    def _verify(self, result: DownloadResult, info: dict[str, Any], options: JobOptions) -> None:
        media = [f for f in result.files if f.kind in (FileKind.VIDEO, FileKind.AUDIO)]
        if len(media) != 1:
            raise JobFailure(
                "yt-dlp produced no media file (it may exceed MAX_FILE_SIZE_GB).",
                code="file_too_large" if not media else "postprocessing_failed",
            )
        report = probe_media(media[0].path)
        problem = report.problem(
            expect_video=not options.audio_only,
            expect_audio=options.audio_only or _has_audio(info),
            expected_duration=info.get("duration"),
        )
        if problem:
            raise JobFailure(
                f"The result failed verification: {problem}", code="postprocessing_failed"
            )


def _has_audio(info: dict[str, Any]) -> bool:
    selected = info.get("requested_formats") or [info]
    return any((f.get("acodec") or "none") != "none" for f in selected)


def describe(info: dict[str, Any], options: JobOptions) -> dict[str, Any]:
    """Job columns and details recorded once the video's metadata is known."""
    selected = info.get("requested_formats") or [info]
    upload_date = info.get("upload_date")
    manual = set(info.get("subtitles") or {})
    requested = info.get("requested_subtitles") or {}
    return {
        "video_id": info.get("id"),
        "title": info.get("title"),
        "duration": info.get("duration"),
        "channel_name": info.get("channel") or info.get("uploader"),
        "upload_date": f"{upload_date[:4]}-{upload_date[4:6]}-{upload_date[6:]}"
        if upload_date
        else None,
        "details": {
            "format_ids": [str(f.get("format_id")) for f in selected],
            "resolution": info.get("resolution"),
            "width": info.get("width"),
            "height": info.get("height"),
            "fps": info.get("fps"),
            "vcodec": info.get("vcodec"),
            "acodec": info.get("acodec"),
            "subtitles": {lang: "manual" if lang in manual else "auto" for lang in requested},
            "subtitles_missing": [
                lang for lang in options.subtitle_languages if lang not in requested
            ]
            if options.include_transcription
            else [],
        },
    }


def collect_outputs(workdir: Path, video_id: str, *, audio_only: bool) -> DownloadResult:
    """Classify what yt-dlp left in the work directory (its names follow our template)."""
    result = DownloadResult(video_id=video_id)
    for path in sorted(workdir.iterdir()):
        name = path.name
        if not path.is_file() or name.startswith(".") or name.endswith(LEFTOVER_SUFFIXES):
            continue
        if name.endswith(".info.json"):
            result.files.append(DownloadedFile(path, FileKind.METADATA, "json"))
            continue
        ext = path.suffix.lstrip(".").lower()
        stem_parts = name[: -len(ext) - 1].split(".")
        if ext in SUBTITLE_EXTENSIONS and len(stem_parts) >= 2:
            result.files.append(DownloadedFile(path, FileKind.SUBTITLE, ext, stem_parts[-1]))
        elif ext in THUMBNAIL_EXTENSIONS:
            result.files.append(DownloadedFile(path, FileKind.THUMBNAIL, ext))
        elif _INTERMEDIATE.search(name):
            continue
        elif ext in AUDIO_EXTENSIONS or (audio_only and ext in VIDEO_EXTENSIONS):
            result.files.append(DownloadedFile(path, FileKind.AUDIO, ext))
        elif ext in VIDEO_EXTENSIONS:
            result.files.append(DownloadedFile(path, FileKind.VIDEO, ext))
    return result
