"""YTDLP_IMPERSONATE: yt-dlp presents a browser (curl_cffi) on every request, which still
leaves through the egress guard and its upstream proxy; our multi-connection download keeps
working; an unknown target, or no curl_cffi, stops the process at start-up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from yt_dlp.networking.common import _REQUEST_HANDLERS

from app.core.config import Settings
from tests.downloads.engine.test_media_options import run_job
from tests.downloads.engine.test_ranged import THROTTLED, download, sha256
from tests.security.test_egress_upstream import _Upstream
from tests.support.media_server import MediaServer
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube

SIZE = 3 * 1024 * 1024 + 777


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    proxy = _Upstream(authorization=None)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def clip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    root = tmp_path_factory.mktemp("impersonated-media")
    (root / "clip.mp4").write_bytes(os.urandom(SIZE))
    with MediaServer(root) as running:
        yield running


def test_impersonation_reaches_the_site_through_the_guard_and_its_upstream(
    youtube_in_process: OfflineYouTube, tmp_path: Path, upstream: _Upstream
) -> None:
    settings = Settings(
        _env_file=None,
        allow_private_networks=True,
        subtitle_sleep_seconds=0,
        ytdlp_proxy=upstream.url(credentials=None),
        ytdlp_impersonate="chrome",
    )
    youtube_in_process.server.reset_hits()
    result = run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
                     settings=settings, include_transcription=False)  # fmt: skip
    assert result.media, "the video downloaded"
    media = youtube_in_process.server.hits_for(f"media/{STANDARD_VIDEO_ID}")
    assert media
    # Only a browser (or curl_cffi presenting one) sends client hints with a Chrome agent.
    assert all(hit.sec_ch_ua and "Chrome" in hit.sec_ch_ua for hit in media), media[0]
    assert all(hit.user_agent and "Chrome/" in hit.user_agent for hit in media)
    relayed = [line for line in upstream.lines if f"/media/{STANDARD_VIDEO_ID}/" in line]
    assert relayed, "the impersonated requests left through the guard and its upstream proxy"


def test_without_impersonation_no_client_hints_are_sent(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    youtube_in_process.server.reset_hits()
    run_job(youtube_in_process, tmp_path, youtube_in_process.video_url(STANDARD_VIDEO_ID),
            include_transcription=False)  # fmt: skip
    media = youtube_in_process.server.hits_for(f"media/{STANDARD_VIDEO_ID}")
    assert media and all(hit.sec_ch_ua is None for hit in media)


def test_several_connections_still_give_the_exact_bytes_when_impersonating(
    clip_server: MediaServer, tmp_path: Path
) -> None:
    clip_server.reset_hits()
    target = tmp_path / "clip.mp4"
    assert download(clip_server.url("clip.mp4", rate=THROTTLED), target, ytdlp_impersonate="chrome")
    assert sha256(target) == sha256(Path(clip_server.root) / "clip.mp4")
    hits = clip_server.hits_for("clip.mp4")
    assert len(hits) >= 4 and all(hit.status == 206 for hit in hits)
    assert all(hit.sec_ch_ua for hit in hits), "every range was fetched as the browser"


@pytest.mark.parametrize("target", ["chrome", "chrome-131", "safari", "Chrome"])
def test_known_targets_are_accepted(target: str) -> None:
    settings = Settings(_env_file=None, ytdlp_impersonate=target)
    assert settings.ytdlp_impersonate == target.lower()


def test_an_unknown_target_stops_the_process_naming_the_known_ones() -> None:
    with pytest.raises(
        ValidationError, match="YTDLP_IMPERSONATE='netscape' is not a target"
    ) as error:
        Settings(_env_file=None, ytdlp_impersonate="netscape")
    assert "chrome" in str(error.value)


def test_without_curl_cffi_impersonation_stops_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if curl_cffi were not installed: yt-dlp then registers no impersonating handler.
    monkeypatch.delitem(_REQUEST_HANDLERS, "CurlCFFI")
    with pytest.raises(ValidationError, match="needs the curl_cffi package"):
        Settings(_env_file=None, ytdlp_impersonate="chrome")


def test_impersonation_is_off_by_default() -> None:
    assert Settings(_env_file=None).ytdlp_impersonate == ""
