"""Runs yt-dlp for one job in its work directory: extract, download, then clean transcripts,
put the video into the asked container and verify the result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yt_dlp.version

from app.core import tracing
from app.core.config import Settings, TranscribeMode
from app.downloads.engine import media
from app.downloads.engine.guard import guarded_ydl
from app.downloads.engine.options import (
    CAPTIONS_DIR,
    POSTPROCESSOR_STAGES,
    build_ydl_params,
    postprocessing_steps,
    private_cookie_jar,
    rewrites_media,
    subtitle_params,
    track_style,
)
from app.downloads.engine.pacing import paced_reads
from app.downloads.engine.progress import ProgressTracker
from app.downloads.engine.speech import (
    Handoff,
    audio_needed,
    keep_audio,
    language_hint,
    recognition_wanted,
    write_handoff,
)
from app.downloads.exceptions import JobFailure, OutsideDateWindow
from app.downloads.schemas import DateWindow, JobOptions
from app.jobs.models import FileKind, JobStage
from app.storage.digests import FileDigest, GrowingFileDigest, digest_of
from app.transcripts.conversion import EMBED_SUFFIX, write_transcripts
from app.transcripts.cues import Cue
from app.transcripts.planning import TranscriptPlan, plan_transcripts
from app.transcripts.schemas import SubtitleFormat
from app.youtube.routes import Route

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({"mp4", "webm", "mkv", "mov"})
AUDIO_EXTENSIONS = frozenset({"m4a", "mp3", "opus", "ogg", "wav", "flac", "aac"})
SUBTITLE_EXTENSIONS = frozenset(SubtitleFormat)
THUMBNAIL_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp"})
LEFTOVER_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp")
_INTERMEDIATE = re.compile(r"\.f[\w-]+\.\w+$")  # unmerged "id.f137.mp4" parts
# The protocols whose downloader (yt-dlp's HttpFD) writes each file from its start to its
# end in order, the one kind of writer a GrowingFileDigest can follow.
SEQUENTIAL_PROTOCOLS = frozenset({"http", "https"})
# The share of the progress bar speech recognition gets after the download, when expected.
RECOGNITION_SHARE = 0.5
# yt-dlp's format for the audio a transcript-only job fetches for recognition.
RECOGNITION_AUDIO_FORMAT = "ba/b"
# How long the digest of a downloaded file may take to catch up once the download ended.
DIGEST_CATCH_UP_SECONDS = 300.0
StopCheck = Callable[[], None]
MetadataSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    kind: FileKind
    format: str
    language: str | None = None
    digest: FileDigest | None = None  # hashed as it was written, when it still is that file


@dataclass
class DownloadResult:
    video_id: str
    files: list[DownloadedFile] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    transcripts: dict[str, list[Cue]] = field(default_factory=dict)  # clean cues per language
    # Speech recognition follows (its audio and hand-off are in the work directory's asr/).
    recognition: bool = False

    @property
    def media(self) -> list[DownloadedFile]:
        return [f for f in self.files if f.kind in (FileKind.VIDEO, FileKind.AUDIO)]


class YtDlpRunner:
    """Downloads one URL into `workdir`, reporting progress and honouring stop checks."""

    def __init__(
        self,
        *,
        settings: Settings,
        tracker: ProgressTracker,
        check_stop: StopCheck,
        on_metadata: MetadataSink,
        route: Route | None = None,
    ) -> None:
        self._settings = settings
        self._route = route
        self._tracker = tracker
        self._check_stop = check_stop
        self._on_metadata = on_metadata
        self._media_started = False
        self._window = DateWindow()
        self._postprocessors_done: set[str] = set()
        self._postprocessing_steps = 1
        # What was downloaded, hashed as it is written: by yt-dlp's name for the file.
        self._digests: dict[str, GrowingFileDigest] = {}
        self._written: dict[str, int] = {}
        # Whether the file yt-dlp downloads is the one kept (decided once the format is).
        self._follow_writes = False
        # Whether speech recognition is expected once the captions are known.
        self._audio_for_recognition = False

    def run(
        self, url: str, options: JobOptions, workdir: Path, window: DateWindow | None = None
    ) -> DownloadResult:
        workdir.mkdir(parents=True, exist_ok=True)
        self._window = window or DateWindow()
        try:
            return self._run(url, options, workdir)
        finally:
            for follower in self._digests.values():
                follower.abandon()

    def _run(self, url: str, options: JobOptions, workdir: Path) -> DownloadResult:
        with paced_reads():
            info, plan = self._download(url, options, workdir)
        self._check_stop()
        self._tracker.set_stage(JobStage.POSTPROCESSING)
        with tracing.span("download.postprocess"):
            return self._postprocess(info, plan, url, options, workdir)

    def _postprocess(
        self,
        info: dict[str, Any],
        plan: TranscriptPlan,
        url: str,
        options: JobOptions,
        workdir: Path,
    ) -> DownloadResult:
        """Ours after yt-dlp's: the transcripts written, the video put into the asked
        container and verified, the audio left for recognition."""
        transcripts = write_transcripts(
            plan,
            raw_dir=workdir / CAPTIONS_DIR,
            out_dir=workdir,
            video_id=info["id"],
            style=track_style(
                options,
                self._settings,
                title=info.get("title"),
                page_url=info.get("webpage_url") or url,
            ),
            embed=options.embed_subtitles,
        )
        result = collect_outputs(workdir, info["id"], audio_only=options.audio_only)
        result.details = {**describe(info)["details"], "transcripts": transcripts.summary}
        result.transcripts = transcripts.cues
        if options.downloads_media:
            self._finish_media(result, info, options, workdir)
        self._prepare_recognition(result, options, workdir)
        self._tracker.advance(1.0)
        return result

    def _prepare_recognition(
        self, result: DownloadResult, options: JobOptions, workdir: Path
    ) -> None:
        """Leave the audio and the hand-off for the transcription task when recognition is
        wanted; a transcript-only job's audio never becomes a job file."""
        summary = result.details["transcripts"]
        wanted = recognition_wanted(options, summary)
        media = result.media
        if not options.downloads_media:
            result.files = [f for f in result.files if f not in media]
        if not wanted:
            if self._settings.asr_enabled and options.transcribe is TranscribeMode.NEVER:
                _note_not_recognised(summary, options)
            return
        problem = _cannot_recognise(self._settings, media)
        if problem is not None:
            summary["warnings"].append(
                {
                    "code": "asr_failed",
                    "language": language_hint(options) or "",
                    "message": f"Speech recognition failed: {problem}.",
                }
            )
            return
        audio = keep_audio(media[0].path, workdir, move=not options.downloads_media)
        write_handoff(
            workdir,
            Handoff(audio=audio, language=language_hint(options), captions=result.transcripts),
        )
        result.recognition = True

    def _download(
        self, url: str, options: JobOptions, workdir: Path
    ) -> tuple[dict[str, Any], TranscriptPlan]:
        params = build_ydl_params(options, workdir=workdir, settings=self._settings, logger_=logger)
        params["progress_hooks"] = [self._on_progress]
        params["postprocessor_hooks"] = [self._on_postprocess]
        params["cookiefile"] = private_cookie_jar(self._settings, workdir)
        with guarded_ydl(params, self._settings, self._route) as ydl:
            with tracing.span("download.extract"):
                info = ydl.extract_info(url, download=False)
            self._check_stop()
            self._accept(info, options)
            plan = plan_transcripts(info, options)
            ydl.params.update(subtitle_params(plan))
            self._audio_for_recognition = self._settings.asr_enabled and audio_needed(options, plan)
            if self._audio_for_recognition:
                self._tracker.leave_room(RECOGNITION_SHARE)
                if not options.downloads_media:
                    # Only the audio, for recognition; it is not kept as a job file.
                    ydl.params["skip_download"] = False
                    ydl.format_selector = ydl.build_format_selector(RECOGNITION_AUDIO_FORMAT)
                    # The extraction's selection (a video and an audio to merge) must not
                    # outlive the new one: yt-dlp would download and merge it.
                    for stale in ("requested_formats", "requested_downloads"):
                        info.pop(stale, None)
            self._tracker.set_stage(JobStage.DOWNLOADING)
            # yt-dlp's own post-processors (merging formats, thumbnails) run in here too.
            with tracing.span("download.fetch", video_id=info.get("id")):
                processed = ydl.process_ie_result(info, download=True)
        return processed, plan

    def _accept(self, info: dict[str, Any], options: JobOptions) -> None:
        if info.get("_type", "video") != "video":
            raise JobFailure(
                "Playlists and channels are not supported by this endpoint.",
                code="unsupported_url",
            )
        upload_date = info.get("upload_date")
        if upload_date and not self._window.contains(
            dt.datetime.strptime(upload_date, "%Y%m%d").date()
        ):
            raise OutsideDateWindow(upload_date)
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            raise JobFailure(
                "The stream is live; it can be downloaded once it has ended.",
                code="live_not_supported",
            )
        selected = info.get("requested_formats") or [info]
        sizes = {str(f.get("format_id")): expected_size(f, info.get("duration")) for f in selected}
        known = [size for size in sizes.values() if size]
        if options.downloads_media and known and sum(known) > self._settings.max_file_size_bytes:
            raise JobFailure(
                f"The download would be {sum(known) / 1024**3:.2f} GB, over the "
                f"{self._settings.max_file_size_gb:g} GB limit (MAX_FILE_SIZE_GB).",
                code="file_too_large",
            )
        if options.downloads_media:
            self._tracker.expect(sizes)
        self._postprocessing_steps = postprocessing_steps(options, merged=len(selected) > 1)
        self._follow_writes = not rewrites_media(options, merged=len(selected) > 1)
        self._on_metadata(describe(info))

    def _finish_media(
        self, result: DownloadResult, info: dict[str, Any], options: JobOptions, workdir: Path
    ) -> None:
        if len(result.media) != 1:
            raise JobFailure(
                "yt-dlp produced no media file; it may exceed MAX_FILE_SIZE_GB.",
                code="file_too_large" if not result.media else "postprocessing_failed",
            )
        item = result.media[0]
        if options.audio_only and options.audio_quality:
            media.limit_audio_bitrate(item.path, options.audio_quality, check_stop=self._check_stop)
        if not options.audio_only:
            item = self._finalize_video(item, options, workdir, info["id"])
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest") as pool:
            # The digest (the one taken during the download, or a new one for a file
            # rewritten since) is had while ffprobe checks the file.
            hashing = pool.submit(self._digest_of, item.path)
            report = media.probe_media(item.path)
            digest = hashing.result()
        result.files = [f for f in result.files if f.kind not in (FileKind.VIDEO, FileKind.AUDIO)]
        result.files.append(dataclasses.replace(item, digest=digest))
        problem = report.problem(
            extension=item.format,
            expect_video=not options.audio_only,
            expect_audio=options.audio_only or _has_audio(info),
            expected_duration=info.get("duration"),
        )
        if problem:
            raise JobFailure(
                f"The result failed verification: {problem}.", code="postprocessing_failed"
            )
        result.details["container"] = item.format
        result.details["height"] = report.height or result.details.get("height")

    def _finalize_video(
        self, item: DownloadedFile, options: JobOptions, workdir: Path, video_id: str
    ) -> DownloadedFile:
        target = options.output_format.value
        subtitles = (
            sorted((workdir / CAPTIONS_DIR).glob(f"{video_id}.*{EMBED_SUFFIX}"))
            if options.embed_subtitles
            else []
        )
        if not media.needs_finalizing(item.path, target, subtitles=subtitles):
            return item
        try:
            final = media.finalize_video(
                item.path, target, subtitles=subtitles, check_stop=self._check_stop
            )
        except media.MediaError as exc:
            raise JobFailure(str(exc), code="postprocessing_failed") from exc
        return DownloadedFile(final, FileKind.VIDEO, target)

    def _digest_of(self, path: Path) -> FileDigest | None:
        """The digest taken while the download wrote `path` if `path` is still that file,
        else a new one (None when the file changes while hashed: storage hashes it)."""
        found = None
        for name, follower in list(self._digests.items()):
            digest = follower.finish(DIGEST_CATCH_UP_SECONDS)
            del self._digests[name]
            if digest is not None and digest.matches(path):
                found = digest
        return found or _digest_or_none(path)

    def _follow(self, status: dict[str, Any]) -> None:
        """Hash each file as yt-dlp writes it; start over when yt-dlp does."""
        name, partial = status.get("filename"), status.get("tmpfilename")
        protocol = (status.get("info_dict") or {}).get("protocol")
        if status.get("status") != "downloading" or not name or not partial:
            return
        if protocol not in SEQUENTIAL_PROTOCOLS or not self._follow_writes:
            return
        written = int(status.get("downloaded_bytes") or 0)
        follower = self._digests.get(name)
        if follower is None:
            self._digests[name] = GrowingFileDigest(Path(partial)).start()
        elif written < self._written.get(name, 0):
            follower.restart()
        self._written[name] = written

    def _on_progress(self, status: dict[str, Any]) -> None:
        self._check_stop()
        format_id = (status.get("info_dict") or {}).get("format_id")
        if format_id is None:
            return  # subtitle downloads report through the same hook
        self._media_started = True
        self._follow(status)
        self._tracker.update_part(
            str(format_id),
            done=int(status.get("downloaded_bytes") or 0),
            total=status.get("total_bytes") or status.get("total_bytes_estimate"),
            speed=status.get("speed"),
            finished=status.get("status") == "finished",
        )

    def _on_postprocess(self, status: dict[str, Any]) -> None:
        self._check_stop()
        name = str(status.get("postprocessor"))
        stage = POSTPROCESSOR_STAGES.get(name)
        if stage is None:
            # One yt-dlp added since the table was written: after the media it post-processes.
            logger.debug("unmapped yt-dlp post-processor %s", name)
            stage = JobStage.POSTPROCESSING if self._media_started else JobStage.DOWNLOADING
        if stage is not JobStage.POSTPROCESSING:
            return
        self._tracker.set_stage(JobStage.POSTPROCESSING)
        if status.get("status") == "finished":
            # Our own finishing is the last step; yt-dlp's hooks may report a step twice.
            self._postprocessors_done.add(name)
            done = min(len(self._postprocessors_done), self._postprocessing_steps - 1)
            self._tracker.advance(done / self._postprocessing_steps)


def _cannot_recognise(settings: Settings, media: list[DownloadedFile]) -> str | None:
    """Why a wanted recognition cannot be handed over, if it cannot."""
    if not settings.asr_enabled:
        # A server whose operator turned ASR off may run no transcription worker at all.
        return "speech recognition is not enabled on this server (ASR_ENABLED)"
    if not media:
        return "no audio was fetched for it"
    return None


def _note_not_recognised(summary: dict[str, Any], options: JobOptions) -> None:
    """Say why an asked language has no transcript when recognition was turned off."""
    written = {str(track["language"]) for track in summary.get("languages", [])}
    for language in summary.get("unavailable", []):
        if language in written:
            continue
        summary["warnings"].append(
            {
                "code": "asr_not_requested",
                "language": language,
                "message": f"The video has no captions in {language!r}, and speech "
                'recognition was not asked for (transcribe: "never").',
            }
        )


def expected_size(fmt: dict[str, Any], duration: float | None) -> int | None:
    """A format's size in bytes as yt-dlp gives it, else estimated from its bitrate (yt-dlp
    leaves fragmented formats without one)."""
    size = fmt.get("filesize") or fmt.get("filesize_approx")
    if size:
        return int(size)
    bitrate = fmt.get("tbr") or fmt.get("vbr") or fmt.get("abr")  # kbit/s
    return int(bitrate * 1000 / 8 * duration) if bitrate and duration else None


def _digest_or_none(path: Path) -> FileDigest | None:
    """None when the file changed while hashed: storage then hashes it itself."""
    try:
        return digest_of(path)
    except OSError as exc:
        logger.debug("could not hash %s ahead of storing it: %s", path, exc)
        return None


def _has_audio(info: dict[str, Any]) -> bool:
    selected = info.get("requested_formats") or [info]
    return any((f.get("acodec") or "none") != "none" for f in selected)


def describe(info: dict[str, Any]) -> dict[str, Any]:
    """Job columns and details recorded once the video's metadata is known."""
    selected = info.get("requested_formats") or [info]
    upload_date = info.get("upload_date")
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
            "live_status": info.get("live_status"),
            # Workers update yt-dlp without a rebuild (YTDLP_UPDATE): which one fetched this.
            "ytdlp_version": yt_dlp.version.__version__,
        },
    }


def collect_outputs(workdir: Path, video_id: str, *, audio_only: bool) -> DownloadResult:
    """Classify what is left in the work directory (its names follow our template)."""
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
