"""Request options map onto yt-dlp in one place, and yt-dlp's failures onto stable codes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.core.config import Settings
from app.downloads.engine.guard import classify_error
from app.downloads.engine.options import build_ydl_params, format_selector, rewrites_media
from app.downloads.engine.runner import collect_outputs
from app.downloads.schemas import JobOptions, OutputFormat, Quality
from app.jobs.models import FileKind


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (JobOptions(), "bv+ba/b"),
        (JobOptions(quality=Quality.P720), "bv[height<=720]+ba/b[height<=720]/wv+ba/w"),
        (JobOptions(quality=Quality.WORST), "wv+wa/w"),
        (JobOptions(audio_only=True), "ba/b"),
    ],
)
def test_format_selector(options: JobOptions, expected: str) -> None:
    assert format_selector(options) == expected


@pytest.mark.parametrize(
    ("options", "merged", "expected"),
    [
        (JobOptions(), False, True),  # the metadata pass writes the video anew
        (JobOptions(embed_metadata=False), True, True),  # so does the merge
        (JobOptions(embed_metadata=False), False, False),
        (JobOptions(audio_only=True, embed_metadata=False), False, False),
        (JobOptions(transcript_only=True), False, False),
    ],
)
def test_the_downloaded_file_is_hashed_as_written_only_when_it_is_kept(
    options: JobOptions, merged: bool, expected: bool
) -> None:
    assert rewrites_media(options, merged=merged) is expected


def test_transcript_only_skips_the_media() -> None:
    params = build_ydl_params(
        JobOptions(transcript_only=True),
        workdir=Path("/nowhere"),
        settings=Settings(_env_file=None),
        logger_=logging.getLogger(),
    )
    assert params["skip_download"] is True
    assert not any(p["key"] == "FFmpegMetadata" for p in params["postprocessors"])


def test_params_follow_the_request_and_nothing_else(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, max_file_size_gb=1, subtitle_sleep_seconds=2.5)
    options = JobOptions(output_format=OutputFormat.WEBM, subtitle_languages=["de"])
    params = build_ydl_params(
        options, workdir=tmp_path, settings=settings, logger_=logging.getLogger()
    )
    assert params["merge_output_format"] == "webm/mkv", "merged into webm when the codecs allow"
    assert params["format_sort"] == ["res", "fps", "ext:webm:webm"]
    assert params["sleep_interval_subtitles"] == 2.5
    assert params["max_filesize"] == 1024**3
    assert params["skip_download"] is False
    assert params["paths"] == {"home": str(tmp_path), "temp": str(tmp_path)}
    assert params["noplaylist"] is True and params["retries"] > 0


def test_a_relative_work_dir_keeps_the_part_files_in_the_jobs_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WORK_DIR is ./data/work by default; yt-dlp joins a relative temp path onto home, which
    put the .part files in data/work/<job>/data/work/<job>/."""
    monkeypatch.chdir(tmp_path)
    params = build_ydl_params(
        JobOptions(),
        workdir=Path("data/work/job"),
        settings=Settings(_env_file=None),
        logger_=logging.getLogger(),
    )
    job_dir = str(tmp_path / "data" / "work" / "job")
    assert params["paths"] == {"home": job_dir, "temp": job_dir}


@pytest.mark.parametrize(
    ("message", "code", "retryable"),
    [
        (
            "ERROR: [youtube] abc: Private video. Sign in if you've been granted access",
            "video_private",
            False,
        ),
        (
            "ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader",
            "video_unavailable",
            False,
        ),
        ("ERROR: [youtube] abc: Sign in to confirm you\u2019re not a bot", "throttled", True),
        (
            "ERROR: unable to download video data: HTTP Error 429: Too Many Requests",
            "throttled",
            True,
        ),
        (
            "ERROR: unable to download video data: HTTP Error 503: Service Unavailable",
            "network_error",
            True,
        ),
        (
            "ERROR: [youtube] abc: Unable to download API page: [Errno -2] Name or service not "
            "known (caused by TransportError('[Errno -2] Name or service not known'))",
            "network_error",
            True,
        ),
        (
            "ERROR: [youtube] x: Unable to download API page: ('Unable to connect to proxy', "
            "OSError('Tunnel connection failed: 502 Bad Gateway')); please report this issue on "
            "https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the template",
            "network_error",
            True,
        ),
        ("ERROR: something nobody expected", "download_failed", False),
    ],
)
def test_classify_error(message: str, code: str, retryable: bool) -> None:
    failure = classify_error(Exception(message))
    assert (failure.code, failure.retryable) == (code, retryable)
    assert not failure.message.startswith("ERROR")
    assert "please report" not in failure.message


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (
            "ERROR: [youtube] abc: Sign in to confirm you\u2019re not a bot. Use "
            "--cookies-from-browser or --cookies for the authentication. See  https://github.com/"
            "yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass "
            "cookies",
            "throttled",
        ),
        (
            "ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate "
            "for some users. Use --cookies-from-browser or --cookies for the authentication.",
            "age_restricted",
        ),
    ],
)
def test_advice_names_this_services_settings_not_yt_dlp_flags(message: str, code: str) -> None:
    failure = classify_error(Exception(message))
    assert failure.code == code
    assert "YTDLP_COOKIES_FILE" in failure.message
    assert "--cookies" not in failure.message and "yt-dlp" not in failure.message


def test_collect_outputs_classifies_files_and_skips_leftovers(tmp_path: Path) -> None:
    for name in [
        "abc.mp4",
        "abc.en.vtt",
        "abc.de-DE.vtt",
        "abc.jpg",
        "abc.info.json",
        "abc.f137.mp4.part",
        "abc.f140.m4a",
        "abc.mp4.ytdl",
    ]:
        (tmp_path / name).write_bytes(b"x")
    result = collect_outputs(tmp_path, "abc", audio_only=False)
    found = {(f.path.name, f.kind, f.language) for f in result.files}
    assert found == {
        ("abc.mp4", FileKind.VIDEO, None),
        ("abc.en.vtt", FileKind.SUBTITLE, "en"),
        ("abc.de-DE.vtt", FileKind.SUBTITLE, "de-DE"),
        ("abc.jpg", FileKind.THUMBNAIL, None),
        ("abc.info.json", FileKind.METADATA, None),
    }
