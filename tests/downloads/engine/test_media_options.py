"""Quality presets, audio formats and containers: the runner with real yt-dlp and ffmpeg
against the offline YouTube fixtures (in this process; the Celery path is covered end to end)."""

from __future__ import annotations

import copy
import shutil
import uuid
from pathlib import Path
from typing import Any

import ffmpeg
import pytest

from app.core.config import Settings
from app.downloads.engine.media import audio_bitrate, probe_media
from app.downloads.engine.progress import ProgressTracker
from app.downloads.engine.runner import DownloadResult, YtDlpRunner
from app.downloads.exceptions import JobFailure
from app.downloads.schemas import JobOptions
from app.jobs.events import ProgressEvent
from app.jobs.models import FileKind
from tests.support.offline_youtube import (
    LADDER_VIDEO_ID,
    LIVE_VIDEO_ID,
    STANDARD_VIDEO_ID,
    WAS_LIVE_VIDEO_ID,
    OfflineYouTube,
)

LADDER_HEIGHTS = {"2160p": 2160, "1440p": 1440, "1080p": 1080, "720p": 720, "480p": 480,
                  "360p": 360, "best": 2160, "worst": 144}  # fmt: skip


def run_job(
    youtube: OfflineYouTube,
    tmp_path: Path,
    url: str,
    settings: Settings | None = None,
    **options: Any,
) -> DownloadResult:
    # The fixture site is on 127.0.0.1: allowed here, refused by default (tests/security).
    settings = settings or Settings(
        _env_file=None, subtitle_sleep_seconds=0, allow_private_networks=True
    )
    events: list[ProgressEvent] = []
    runner = YtDlpRunner(
        settings=settings,
        tracker=ProgressTracker(uuid.uuid4(), publish=events.append),
        check_stop=lambda: None,
        on_metadata=lambda fields: None,
    )
    workdir = tmp_path / uuid.uuid4().hex
    return runner.run(url, JobOptions.model_validate(options), workdir)


def media_of(result: DownloadResult) -> Path:
    [item] = result.media
    return item.path


@pytest.mark.parametrize("quality", list(LADDER_HEIGHTS))
def test_each_quality_preset_picks_the_right_height(
    youtube_in_process: OfflineYouTube, tmp_path: Path, quality: str
) -> None:
    result = run_job(
        youtube_in_process, tmp_path, youtube_in_process.video_url(LADDER_VIDEO_ID),
        quality=quality, include_transcription=False, include_thumbnail=False,
    )  # fmt: skip
    report = probe_media(media_of(result))
    assert report.height == LADDER_HEIGHTS[quality]
    assert result.details["height"] == LADDER_HEIGHTS[quality]
    assert len(result.details["format_ids"]) == 2, "video-only plus audio-only"


def test_a_preset_above_what_the_video_offers_takes_the_best_below(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    result = run_job(
        youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
        quality="1080p", include_transcription=False,
    )  # fmt: skip
    assert probe_media(media_of(result)).height == 360


@pytest.mark.parametrize(
    ("audio_format", "container", "codec"),
    [
        ("mp3", "mp3", "mp3"),
        ("m4a", "mp4", "aac"),
        ("wav", "wav", "pcm_s16le"),
        ("flac", "flac", "flac"),
        ("opus", "ogg", "opus"),
    ],
)
def test_audio_only_in_each_format(
    youtube_in_process: OfflineYouTube,
    tmp_path: Path,
    audio_format: str,
    container: str,
    codec: str,
) -> None:
    result = run_job(
        youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
        audio_only=True, audio_format=audio_format, include_transcription=False,
    )  # fmt: skip
    [item] = result.media
    assert item.kind is FileKind.AUDIO and item.format == audio_format
    report = probe_media(item.path)
    assert container in (report.container or "").split(",")
    assert report.audio_codecs == (codec,) and report.video_codecs == ()
    assert abs((report.duration or 0) - 20) < 1


@pytest.mark.parametrize("audio_format", ["mp3", "m4a", "opus"])
def test_audio_quality_sets_the_bitrate(
    youtube_in_process: OfflineYouTube, tmp_path: Path, audio_format: str
) -> None:
    # m4a and opus sources exist as such: yt-dlp would copy them at the source's bitrate.
    result = run_job(
        youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
        audio_only=True, audio_format=audio_format, audio_quality=48, include_transcription=False,
    )  # fmt: skip
    bitrate = audio_bitrate(media_of(result))
    assert bitrate is not None and bitrate < 48_000 * 1.25


@pytest.mark.parametrize(
    ("output_format", "container", "quality"),
    [("mp4", "mp4", "best"), ("webm", "webm", "best"), ("mkv", "matroska", "best"),
     ("webm", "webm", "360p")],
)  # fmt: skip
def test_each_container_is_produced_and_verified(
    youtube_in_process: OfflineYouTube,
    tmp_path: Path,
    output_format: str,
    container: str,
    quality: str,
) -> None:
    # The last case asks the h264-only ladder for webm, which needs a re-encode to VP9.
    video_id = STANDARD_VIDEO_ID if quality == "best" else LADDER_VIDEO_ID
    result = run_job(
        youtube_in_process, tmp_path, youtube_in_process.video_url(video_id),
        output_format=output_format, quality=quality, include_transcription=False,
    )  # fmt: skip
    path = media_of(result)
    assert path.suffix == f".{output_format}"
    report = probe_media(path)
    assert container in (report.container or "").split(",")
    assert report.video_codecs and report.audio_codecs
    if output_format == "webm":
        assert set(report.video_codecs) <= {"vp8", "vp9", "av1"}
        assert set(report.audio_codecs) <= {"opus", "vorbis"}


def test_embedded_subtitles_and_metadata(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    result = run_job(
        youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
        embed_subtitles=True, subtitle_languages=["en", "de"],
    )  # fmt: skip
    report = probe_media(media_of(result))
    assert report.subtitle_streams == 2
    tags = ffmpeg.probe(str(media_of(result)))["format"]["tags"]
    assert tags["title"].startswith("Big Buck Bunny") and tags["artist"] == "Blender"
    assert {f.language for f in result.files if f.kind is FileKind.SUBTITLE} == {"en", "de"}


def test_known_size_over_the_limit_fails_before_downloading(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    youtube_in_process.server.reset_hits()
    settings = Settings(_env_file=None, max_file_size_gb=0.0005, allow_private_networks=True)
    with pytest.raises(JobFailure) as failure:
        run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
                settings=settings, include_transcription=False)  # fmt: skip
    assert failure.value.code == "file_too_large"
    assert youtube_in_process.server.hits_for(f"media/{STANDARD_VIDEO_ID}") == []


def test_a_running_live_stream_is_refused_and_a_finished_one_downloads(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    with pytest.raises(JobFailure) as failure:
        run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(LIVE_VIDEO_ID))
    assert failure.value.code == "live_not_supported"
    result = run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(WAS_LIVE_VIDEO_ID),
                     include_transcription=False)  # fmt: skip
    assert probe_media(media_of(result)).duration


def test_shorts_download_like_videos(youtube_in_process: OfflineYouTube, tmp_path: Path) -> None:
    result = run_job(youtube_in_process, tmp_path, youtube_in_process.shorts_url(STANDARD_VIDEO_ID),
                     include_transcription=False)  # fmt: skip
    assert result.video_id == STANDARD_VIDEO_ID and len(result.media) == 1


def test_a_truncated_source_fails_verification_and_is_never_completed(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    source = youtube_in_process.format_path(STANDARD_VIDEO_ID, "134")
    truncated = source.with_name("134-truncated.mp4")
    data = source.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    entry = copy.deepcopy(youtube_in_process.catalog["videos"][STANDARD_VIDEO_ID])
    for fmt in entry["formats"]:
        if fmt["format_id"] == "134":
            fmt["url"] = fmt["url"].replace("134.mp4", truncated.name)
            fmt["filesize"] = truncated.stat().st_size
    youtube_in_process.set_entry("truncated01", {**entry, "id": "truncated01"})

    with pytest.raises(JobFailure) as failure:
        run_job(youtube_in_process, tmp_path, youtube_in_process.video_url("truncated01"),
                include_transcription=False)  # fmt: skip
    assert failure.value.code == "postprocessing_failed"
    assert "duration" in failure.value.message
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_cookies_from_ytdlp_cookies_file_are_sent_and_the_file_is_left_alone(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    jar = tmp_path / "cookies.txt"
    jar.write_text(
        "# Netscape HTTP Cookie File\n"
        "127.0.0.1\tFALSE\t/\tFALSE\t2147483647\tSID\tsigned-in-session\n"
    )
    before = jar.read_bytes()
    settings = Settings(
        _env_file=None,
        allow_private_networks=True,
        ytdlp_cookies_file=jar,
        subtitle_sleep_seconds=0,
    )
    youtube_in_process.server.reset_hits()
    run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
            settings=settings, include_transcription=False)  # fmt: skip
    media = youtube_in_process.server.hits_for(f"media/{STANDARD_VIDEO_ID}")
    assert media and all(hit.cookie == "SID=signed-in-session" for hit in media)
    assert jar.read_bytes() == before, "each job writes to its own copy"


def test_ytdlp_proxy_carries_every_request_through_the_guard(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    from tests.security.test_egress_upstream import _Upstream

    upstream = _Upstream(authorization=None)
    try:
        settings = Settings(
            _env_file=None,
            allow_private_networks=True,
            subtitle_sleep_seconds=0,
            ytdlp_proxy=upstream.url(credentials=None),
        )
        run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
                settings=settings, include_transcription=False)  # fmt: skip
        media_requests = [line for line in upstream.lines if f"/media/{STANDARD_VIDEO_ID}/" in line]
        assert media_requests, "the media parts went through the upstream proxy"
        assert all("127.0.0.1" in line for line in media_requests), "as checked addresses"
    finally:
        upstream.close()
