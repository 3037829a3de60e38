"""Which cookies a job's yt-dlp gets: the upload over YTDLP_COOKIES_FILE; and a file yt-dlp
cannot load fails the job without its content reaching the job's message or a log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from yt_dlp.utils import DownloadError

from app.core.config import Settings
from app.downloads.engine.guard import classify_error
from app.downloads.engine.options import without_cookie_lines
from app.downloads.exceptions import JobFailure
from app.youtube.cookies import save_cookies
from tests.downloads.engine.test_media_options import run_job
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube
from tests.youtube.cookie_files import SECRET, cookie, netscape


def settings_for(tmp_path: Path, ytdlp_cookies_file: Path) -> Settings:
    # The fixture site is on 127.0.0.1: allowed here, refused by default (tests/security).
    return Settings(
        _env_file=None,
        allow_private_networks=True,
        subtitle_sleep_seconds=0,
        ytdlp_cookies_dir=tmp_path / "secrets",
        ytdlp_cookies_file=ytdlp_cookies_file,
    )


def test_the_upload_wins_over_ytdlp_cookies_file(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    configured = tmp_path / "configured.txt"
    configured.write_bytes(
        netscape(cookie(), cookie(domain="127.0.0.1", value="from-the-file", secure=False))
    )
    settings = settings_for(tmp_path, ytdlp_cookies_file=configured)
    save_cookies(settings, netscape(cookie(), cookie(domain="127.0.0.1", secure=False)))
    youtube_in_process.server.reset_hits()
    run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
            settings=settings, include_transcription=False)  # fmt: skip
    media = youtube_in_process.server.hits_for(f"media/{STANDARD_VIDEO_ID}")
    assert media and all(hit.cookie == f"SID={SECRET}" for hit in media)


def test_a_cookie_file_yt_dlp_refuses_fails_the_job_without_quoting_it(
    youtube_in_process: OfflineYouTube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broken = tmp_path / "broken.txt"
    # A dotless domain marked as including subdomains: MozillaCookieJar refuses the file.
    broken.write_bytes(netscape(f"youtube.com\tTRUE\t/\tTRUE\t0\tSID\t{SECRET}"))
    with pytest.raises(JobFailure) as failure:
        run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
                settings=settings_for(tmp_path, ytdlp_cookies_file=broken),
                include_transcription=False)  # fmt: skip
    assert failure.value.code == "invalid_cookies" and not failure.value.retryable
    assert failure.value.message.startswith("YTDLP_COOKIES_FILE cannot be used. Line 3 ")
    assert SECRET not in failure.value.message
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_yt_dlps_own_cookie_error_is_reported_without_the_line() -> None:
    quoted = f"'/w/.cookies.txt': 'youtube.com\\tTRUE\\t/\\tTRUE\\t0\\tSID\\t{SECRET}'"
    error = DownloadError(f"ERROR: invalid Netscape format cookies file {quoted}")
    failure = classify_error(error)
    assert failure.code == "invalid_cookies" and SECRET not in failure.message
    assert SECRET not in without_cookie_lines(str(error))
