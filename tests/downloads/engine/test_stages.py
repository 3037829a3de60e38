"""The stage a job shows follows what yt-dlp really does: downloading while media bytes flow,
postprocessing only once a post-processor after the download runs. Every post-processor any
request can start has a known stage."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yt_dlp
import yt_dlp.YoutubeDL as youtubedl_module
from pydantic import ValidationError
from yt_dlp.postprocessor import FFmpegMergerPP, MoveFilesAfterDownloadPP
from yt_dlp.postprocessor.ffmpeg import FFmpegFixupPostProcessor

from app.core.config import Settings
from app.downloads.engine.options import POSTPROCESSOR_STAGES, build_ydl_params
from app.downloads.engine.progress import ProgressTracker
from app.downloads.engine.runner import YtDlpRunner
from app.downloads.schemas import AudioFormat, JobOptions, OutputFormat, Quality
from app.jobs.events import ProgressEvent
from app.jobs.models import JobStage
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube

# Every value of each option that changes the yt-dlp options (options.py).
OPTION_VALUES: dict[str, list[Any]] = {
    "quality": [Quality.BEST, Quality.WORST, Quality.P720],
    "output_format": list(OutputFormat),
    "audio_only": [False, True],
    "audio_format": [None, *AudioFormat],
    "audio_quality": [None, 128],
    "include_thumbnail": [False, True],
    "embed_metadata": [False, True],
    "embed_subtitles": [False, True],
    "transcript_only": [False, True],
}


def every_request() -> Iterator[JobOptions]:
    for values in itertools.product(*OPTION_VALUES.values()):
        try:
            yield JobOptions.model_validate(dict(zip(OPTION_VALUES, values, strict=True)))
        except ValidationError:
            continue  # a combination the API refuses


def fixups_yt_dlp_adds() -> set[str]:
    """The fixups yt-dlp itself appends after a download, for what it finds in the media."""
    fixups: list[Any] = [
        cls
        for cls in vars(youtubedl_module).values()
        if isinstance(cls, type) and issubclass(cls, FFmpegFixupPostProcessor)
    ]
    return {cls.pp_key() for cls in fixups}


def postprocessors_started_by(options: JobOptions, tmp_path: Path) -> set[str]:
    """The names the hooks report for every post-processor a download with `options` can
    run: the configured ones, the merger of separate formats, the fixups and the move."""
    params = build_ydl_params(
        options, workdir=tmp_path, settings=Settings(_env_file=None), logger_=logging.getLogger()
    )
    with yt_dlp.YoutubeDL(params) as ydl:
        names = {pp.pp_key() for pps in ydl._pps.values() for pp in pps}
    names.add(MoveFilesAfterDownloadPP.pp_key())
    if params["merge_output_format"] and "+" in params["format"]:
        names.add(FFmpegMergerPP.pp_key())
    if options.downloads_media:
        names |= fixups_yt_dlp_adds()
    return names


def test_every_postprocessor_a_request_can_start_has_a_stage(tmp_path: Path) -> None:
    requests = list(every_request())
    assert len(requests) > 100, "the combinations cover the options"
    unknown: dict[str, JobOptions] = {}
    for options in requests:
        for name in postprocessors_started_by(options, tmp_path) - set(POSTPROCESSOR_STAGES):
            unknown.setdefault(name, options)
    assert not unknown, f"post-processors without a stage (and a request starting each): {unknown}"


def test_only_the_thumbnail_conversion_runs_before_the_media_download() -> None:
    before = {name for name, stage in POSTPROCESSOR_STAGES.items() if stage is JobStage.DOWNLOADING}
    assert before == {"ThumbnailsConvertor"}, "the name yt-dlp reports, without FFmpeg and PP"


class RecordingRunner(YtDlpRunner):
    """The runner, noting each post-processor hook with the stage and bytes at that moment."""

    def __init__(self, tracker: ProgressTracker, settings: Settings) -> None:
        super().__init__(
            settings=settings,
            tracker=tracker,
            check_stop=lambda: None,
            on_metadata=lambda fields: None,
        )
        self.calls: list[tuple[str, str, JobStage, float]] = []
        self.tracker = tracker

    def _on_postprocess(self, status: dict[str, Any]) -> None:
        super()._on_postprocess(status)
        fraction = self.tracker._download_fraction()
        self.calls.append((status["postprocessor"], status["status"], self.tracker.stage, fraction))


@pytest.mark.parametrize(
    "request_options",
    [
        {},
        {"audio_only": True},
        {"audio_only": True, "audio_format": "mp3", "audio_quality": 96},
        {"output_format": "webm", "embed_subtitles": True},
        {"quality": "worst", "include_thumbnail": False, "embed_metadata": False},
        {"transcript_only": True},
    ],
)
def test_what_yt_dlp_reports_is_mapped_and_the_stage_follows_the_bytes(
    youtube_in_process: OfflineYouTube, tmp_path: Path, request_options: dict[str, Any]
) -> None:
    settings = Settings(_env_file=None, subtitle_sleep_seconds=0, allow_private_networks=True)
    events: list[ProgressEvent] = []
    runner = RecordingRunner(ProgressTracker(uuid.uuid4(), publish=events.append), settings)
    url = youtube_in_process.video_url(STANDARD_VIDEO_ID)
    runner.run(url, JobOptions.model_validate(request_options), tmp_path / "work")

    reported = {name for name, *_ in runner.calls}
    assert reported <= set(POSTPROCESSOR_STAGES), runner.calls
    for name, _, stage, fraction in runner.calls:
        if POSTPROCESSOR_STAGES[name] is JobStage.DOWNLOADING:
            assert stage is JobStage.DOWNLOADING and fraction == 0.0, runner.calls
        else:
            assert stage is JobStage.POSTPROCESSING, runner.calls
    downloading = [e for e in events if e.stage is JobStage.DOWNLOADING]
    assert all(e.progress <= 90.0 for e in downloading), "the download band ends at 90"
    if not request_options.get("transcript_only"):
        first_after = next(e for e in events if e.stage is JobStage.POSTPROCESSING)
        assert first_after.downloaded_bytes == first_after.total_bytes, "all bytes were in"
    assert [e.progress for e in events] == sorted(e.progress for e in events)
