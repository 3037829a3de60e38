"""One file over several connections: byte-exact, resumable range by range, back to a single
stream when the host does not serve ranges or one connection is fast enough, progress that
only grows, a cancel that stops every connection, and every request still through the
egress guard."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from yt_dlp.networking.exceptions import HTTPError

from app.core.config import Settings
from app.downloads.engine import ranged
from app.downloads.engine.guard import guarded_ydl
from app.downloads.engine.options import YtDlpLogger
from app.downloads.engine.progress import ProgressTracker
from app.downloads.engine.ranged import MIN_CHUNK, SINGLE_STREAM_SPEED
from app.downloads.engine.runner import YtDlpRunner
from app.downloads.exceptions import JobCanceled, JobFailure
from app.downloads.schemas import JobOptions
from app.jobs.events import ProgressEvent
from app.jobs.models import FileKind
from tests.support.faults import throttled_copy
from tests.support.media_server import MediaServer
from tests.support.offline_youtube import SLOW_VIDEO_ID, OfflineYouTube

SIZE = 3 * 1024 * 1024 + 12345  # not a multiple of any chunk
# Each connection throttled below SINGLE_STREAM_SPEED, as YouTube throttles them: the
# download keeps its several connections. The media server sends a tenth of a second's
# bytes at once, so this must stay under the first chunk's size (MIN_CHUNK) a tenth of a
# second: a faster rate delivers the whole first chunk in one burst, as fast as the machine
# answers, and whether it reads as throttled would depend on the machine's load.
THROTTLED = 2 * 1024 * 1024
assert THROTTLED // 10 < MIN_CHUNK
assert THROTTLED < SINGLE_STREAM_SPEED


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ranged-media")
    path = root / "clip.mp4"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture(scope="module")
def server(source: Path) -> Iterator[MediaServer]:
    with MediaServer(source.parent) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_hits(server: MediaServer) -> None:
    server.reset_hits()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(
    url: str,
    target: Path,
    *,
    connections: int = 4,
    hook: Callable[[dict[str, Any]], None] | None = None,
    **settings: Any,
) -> bool:
    config = Settings(
        _env_file=None,
        allow_private_networks=True,
        download_connections=connections,
        **settings,
    )
    params = {
        "quiet": True,
        "noprogress": True,
        "continuedl": True,
        "retries": 2,
        "buffersize": 32 * 1024,
        "noresizebuffer": True,
        "logger": YtDlpLogger(logging.getLogger(__name__)),
        "progress_hooks": [hook] if hook else [],
    }
    info = {"id": "clip", "url": url, "ext": "mp4", "format_id": "134"}
    with guarded_ydl(params, config) as ydl:
        return bool(ydl.dl(str(target), info))


def test_several_connections_give_the_exact_bytes(
    server: MediaServer, source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "clip.mp4"
    assert download(server.url("clip.mp4", rate=THROTTLED), target)
    assert sha256(target) == sha256(source)
    assert not (tmp_path / "clip.mp4.part").exists()
    hits = server.hits_for("clip.mp4")
    assert len(hits) >= 4 and all(hit.status == 206 for hit in hits)
    assert all(hit.range and hit.range.startswith("bytes=") for hit in hits)


def test_a_host_is_forgotten_once_no_download_fetches_from_it(
    server: MediaServer, source: Path, tmp_path: Path
) -> None:
    # A worker meets a new media host every few videos: keeping each one's connection
    # limit for the process's life would grow its memory without end.
    assert download(server.url("clip.mp4", rate=THROTTLED), tmp_path / "clip.mp4")
    assert len(server.hits_for("clip.mp4")) >= 4, "several connections were used"
    assert ranged._host_limits == {}


def test_downloads_from_one_host_at_once_share_its_limit_until_the_last_ends() -> None:
    with ranged.host_slots("rr1---sn-a.example:443", 2) as first:
        with ranged.host_slots("rr1---sn-a.example:443", 2) as second:
            assert first is second
            assert first.acquire(blocking=False) and first.acquire(blocking=False)
            assert not second.acquire(blocking=False), "the host's limit holds for both"
            first.release()
            first.release()
        assert set(ranged._host_limits) == {"rr1---sn-a.example:443"}
    assert ranged._host_limits == {}
    with ranged.host_slots("rr1---sn-a.example:443", 2) as later:
        assert later is not first


def test_a_partial_file_resumes_and_every_connection_asks_for_a_range_after_it(
    server: MediaServer, source: Path, tmp_path: Path
) -> None:
    done = 1_000_003
    target = tmp_path / "clip.mp4"
    (tmp_path / "clip.mp4.part").write_bytes(source.read_bytes()[:done])
    assert download(server.url("clip.mp4", rate=THROTTLED), target)
    assert sha256(target) == sha256(source)
    starts = [int(hit.range.split("=")[1].split("-")[0]) for hit in server.hits if hit.range]
    assert len(starts) == len(server.hits) >= 2
    assert min(starts) == done, "nothing before the partial file's end is fetched again"


@pytest.mark.parametrize("connections", [4, 1])
def test_a_partial_file_already_whole_is_finished_without_fetching_it_again(
    server: MediaServer, source: Path, tmp_path: Path, connections: int
) -> None:
    # A worker killed (or a job paused) after the last byte was written but before the
    # rename leaves a whole `.part`: the next attempt must finish it, not fail with 416.
    seen: list[dict[str, Any]] = []
    target = tmp_path / "clip.mp4"
    (tmp_path / "clip.mp4.part").write_bytes(source.read_bytes())
    assert download(server.url("clip.mp4"), target, connections=connections, hook=seen.append)
    assert sha256(target) == sha256(source)
    assert not (tmp_path / "clip.mp4.part").exists()
    assert [(hit.status, hit.range) for hit in server.hits] == [(416, f"bytes={SIZE}-{SIZE}")]
    assert seen[-1]["status"] == "finished" and seen[-1]["downloaded_bytes"] == SIZE


@pytest.mark.parametrize("connections", [4, 1])
def test_a_partial_file_longer_than_the_media_starts_over(
    server: MediaServer, source: Path, tmp_path: Path, connections: int
) -> None:
    target = tmp_path / "clip.mp4"
    (tmp_path / "clip.mp4.part").write_bytes(source.read_bytes() + b"stale tail")
    assert download(server.url("clip.mp4"), target, connections=connections)
    assert sha256(target) == sha256(source)
    assert server.hits[0].status == 416
    assert all(hit.status in (200, 206) for hit in server.hits[1:])


def test_a_connection_fast_enough_alone_takes_the_rest_in_one_stream(
    server: MediaServer, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any speed counts as fast: loopback's own speed depends on the machine's load.
    monkeypatch.setattr(ranged, "SINGLE_STREAM_SPEED", 1)
    seen: list[dict[str, Any]] = []
    target = tmp_path / "clip.mp4"
    assert download(server.url("clip.mp4"), target, hook=seen.append)
    assert sha256(target) == sha256(source)
    hits = server.hits_for("clip.mp4")
    assert [hit.status for hit in hits] == [206, 206]
    first_end = int(str(hits[0].range).split("-")[1])
    assert hits[1].range == f"bytes={first_end + 1}-", "the rest from the first chunk's end"
    done = [status["downloaded_bytes"] for status in seen]
    assert done == sorted(done) and done[-1] == SIZE


def test_a_host_without_ranges_gets_a_single_stream(
    server: MediaServer, source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "clip.mp4"
    assert download(server.url("clip.mp4", ranges=0), target)
    assert sha256(target) == sha256(source)
    # The first answer (200, the whole file) sends it back to yt-dlp's single stream.
    assert [hit.status for hit in server.hits] == [200, 200]


def test_one_connection_is_yt_dlps_own_single_stream(
    server: MediaServer, source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "clip.mp4"
    assert download(server.url("clip.mp4"), target, connections=1)
    assert sha256(target) == sha256(source)
    assert [(hit.status, hit.range) for hit in server.hits] == [(200, None)]


def test_a_small_file_takes_one_request(server: MediaServer, tmp_path: Path) -> None:
    small = server.root / "small.mp4"
    small.write_bytes(os.urandom(MIN_CHUNK // 2))
    target = tmp_path / "small.mp4"
    assert download(server.url("small.mp4"), target)
    assert target.read_bytes() == small.read_bytes()
    assert len(server.hits_for("small.mp4")) == 1


def test_progress_only_grows_and_ends_at_the_size(server: MediaServer, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    target = tmp_path / "clip.mp4"
    assert download(server.url("clip.mp4", rate=2 * 1024 * 1024), target, hook=seen.append)
    done = [status["downloaded_bytes"] for status in seen]
    assert done == sorted(done)
    assert len(done) > 3, "progress arrives while the ranges download"
    assert seen[-1]["status"] == "finished" and done[-1] == SIZE
    assert all(status["total_bytes"] == SIZE for status in seen)


def range_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("range-")]


def test_a_cancel_stops_every_connection_within_seconds(
    server: MediaServer, tmp_path: Path
) -> None:
    def cancel_midway(status: dict[str, Any]) -> None:
        if status["downloaded_bytes"] > SIZE // 4:
            raise JobCanceled

    started = time.monotonic()
    with pytest.raises(JobCanceled):
        download(server.url("clip.mp4", rate=512 * 1024), tmp_path / "clip.mp4", hook=cancel_midway)
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while range_threads():
        assert time.monotonic() < deadline, range_threads()
        time.sleep(0.05)
    part = tmp_path / "clip.mp4.part"
    assert part.stat().st_size < SIZE, "the partial file stays for a resume"


def test_a_range_refused_for_good_fails_the_download(server: MediaServer, tmp_path: Path) -> None:
    def refuse_the_rest(status: dict[str, Any]) -> None:
        if status["status"] == "downloading" and not refused:
            refused.append(True)
            server.fail_next("clip.mp4", 403, times=100)

    refused: list[bool] = []
    try:
        with pytest.raises(HTTPError) as failed:
            download(
                server.url("clip.mp4", rate=1024 * 1024), tmp_path / "c.mp4", hook=refuse_the_rest
            )
    finally:
        server.clear_faults()
    assert failed.value.status == 403
    assert 403 in {hit.status for hit in server.hits}


def test_the_egress_guard_refuses_a_range_to_a_private_address(tmp_path: Path) -> None:
    config: dict[str, Any] = {"allowed_private_cidrs": ("127.0.0.1/32",)}
    with pytest.raises(JobFailure) as refused:
        download_refused("http://127.0.0.2:9/clip.mp4", tmp_path / "clip.mp4", **config)
    assert refused.value.code == "forbidden_address"


def download_refused(url: str, target: Path, **settings: Any) -> None:
    config = Settings(_env_file=None, allow_private_networks=False, **settings)
    params = {"quiet": True, "noprogress": True, "retries": 0}
    info = {"id": "clip", "url": url, "ext": "mp4", "format_id": "134"}
    with guarded_ydl(params, config) as ydl:
        ydl.dl(str(target), info)


def test_the_audio_downloads_beside_the_video_within_the_same_connections(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, subtitle_sleep_seconds=0, allow_private_networks=True)
    events: list[ProgressEvent] = []
    runner = YtDlpRunner(
        settings=settings,
        tracker=ProgressTracker(uuid.uuid4(), publish=events.append),
        check_stop=lambda: None,
        on_metadata=lambda fields: None,
    )
    url = throttled_copy(youtube_in_process, "pairAtOnce1", 1024 * 1024)
    server = youtube_in_process.server
    server.reset_hits()
    options = JobOptions(include_transcription=False, include_thumbnail=False)
    result = runner.run(url, options, tmp_path / "work")

    assert [f.kind for f in result.media] == [FileKind.VIDEO]
    video = server.hits_for(f"media/{SLOW_VIDEO_ID}/134.mp4")
    audio = server.hits_for(f"media/{SLOW_VIDEO_ID}/140.m4a")
    assert len(video) >= 4 and audio and all(hit.status == 206 for hit in video + audio)
    assert min(hit.at for hit in audio) < max(hit.at for hit in video), "fetched at once"
    assert [e.progress for e in events] == sorted(e.progress for e in events)
