"""Smoke tests for the offline YouTube test infrastructure (media, server, yt-dlp plugin)."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yt_dlp
from yt_dlp.utils import DateRange, DownloadError, match_filter_func

from tests.support.media import LADDER_RUNGS, SLOW_DURATION, STANDARD_DURATION, ensure_media
from tests.support.media_server import MediaServer, RangeNotSatisfiable, parse_range
from tests.support.offline_youtube import (
    CAPTIONS_DIR,
    CATALOG_ENV,
    CHANNEL_HANDLE,
    CHANNEL_ID,
    CHANNEL_SHORT_IDS,
    CHANNEL_TITLE,
    CHANNEL_VIDEO_IDS,
    DEFAULT_SLOW_RATE,
    LADDER_VIDEO_ID,
    MISSING_CHANNEL_HANDLE,
    MISSING_PLAYLIST_ID,
    MISSING_VIDEO_ID,
    PLAYLIST_ENTRY_IDS,
    PLAYLIST_ID,
    PLAYLIST_SUBTITLED_IDS,
    PLAYLIST_VIDEO_IDS,
    PLUGIN_DIR,
    PRIVATE_VIDEO_ID,
    REMOVED_VIDEO_ID,
    SLOW_VIDEO_ID,
    STANDARD_VIDEO_ID,
    UNIQUE_TRANSCRIPT_WORD,
    UNIQUE_WORD_VIDEO_ID,
    OfflineYouTube,
)

AUDIO_PATH = f"/media/{STANDARD_VIDEO_ID}/140.m4a"

# Runs in a separate interpreter exactly like a worker would: only yt.env() makes it offline.
SUBPROCESS_SCRIPT = """
import json, sys
import yt_dlp
url, out = sys.argv[1], sys.argv[2]
params = {
    "format": "bv*+ba/b", "merge_output_format": "mp4", "outtmpl": out + "/%(id)s.%(ext)s",
    "writesubtitles": True, "subtitleslangs": ["en"], "writethumbnail": True,
    "quiet": True, "noprogress": True,
}
with yt_dlp.YoutubeDL(params) as ydl:
    info = ydl.extract_info(url)
print(json.dumps({
    "extractor": info["extractor"], "format_id": info["format_id"],
    "filepath": info["requested_downloads"][0]["filepath"],
}))
"""

# A worker expanding a playlist, then downloading one child, from yt.env() alone.
PLAYLIST_SUBPROCESS_SCRIPT = """
import json, sys
import yt_dlp
playlist_url, watch_list_url, channel_url, out = sys.argv[1:5]
flat = {"extract_flat": "in_playlist", "quiet": True, "no_warnings": True}
with yt_dlp.YoutubeDL({**flat, "playlist_items": "1-3,8"}) as ydl:
    picked = ydl.extract_info(playlist_url, download=False)
with yt_dlp.YoutubeDL({**flat, "noplaylist": True}) as ydl:
    single = ydl.extract_info(watch_list_url, download=False)
    channel = ydl.extract_info(channel_url, download=False)
params = {"format": "140", "outtmpl": out + "/%(id)s.%(ext)s", "quiet": True, "noprogress": True}
with yt_dlp.YoutubeDL(params) as ydl:
    child = ydl.extract_info(picked["entries"][1]["url"])
print(json.dumps({
    "picked": [entry["id"] for entry in picked["entries"]],
    "single": [single.get("_type", "video"), single["id"]],
    "tabs": [[entry["id"] for entry in tab["entries"]] for tab in channel["entries"]],
    "child": child["requested_downloads"][0]["filepath"],
}))
"""

# yt-dlp loads its plugins before the test directory is on sys.path; activating afterwards
# must still swap in both overrides.
LATE_ACTIVATION_SCRIPT = """
import pathlib, sys
import yt_dlp
from tests.support.offline_youtube import activate_in_process
catalog, url = sys.argv[1:3]
params = {"quiet": True, "no_warnings": True, "extract_flat": "in_playlist"}
with yt_dlp.YoutubeDL(params) as ydl:
    ydl.get_info_extractor("YoutubeTab")  # loads plugins, caches the original class
activate_in_process(pathlib.Path(catalog))
with yt_dlp.YoutubeDL(params) as ydl:
    info = ydl.extract_info(url, download=False)
print(len(info["entries"]))
"""


@pytest.fixture(scope="module")
def yt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineYouTube]:
    with pytest.MonkeyPatch.context() as mp, OfflineYouTube(tmp_path_factory.mktemp("yt")) as y:
        mp.setenv(CATALOG_ENV, str(y.catalog_path))  # restored at teardown
        y.activate()
        yield y


@pytest.fixture
def server(yt: OfflineYouTube) -> MediaServer:
    yt.server.reset_hits()
    yt.server.clear_faults()
    return yt.server


def _conn(server: MediaServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


def _get(
    server: MediaServer, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = _conn(server)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _ydl(tmp_path: Path, **params: Any) -> yt_dlp.YoutubeDL:
    base: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "outtmpl": str(tmp_path / "%(id)s.%(ext)s"),
    }
    return yt_dlp.YoutubeDL({**base, **params})


def _probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out)


def _probe_codecs(path: Path) -> list[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


# -- media cache ---------------------------------------------------------------------------


def test_media_cache_is_complete_and_reused(yt: OfflineYouTube) -> None:
    started = time.monotonic()
    again = ensure_media()
    assert time.monotonic() - started < 2, "second call must not re-encode"
    assert again.root == yt.media.root
    assert not list(again.root.parent.glob(".v*-*")), "no half-written temp dirs left behind"
    assert abs(again["standard/134.mp4"].duration - STANDARD_DURATION) < 0.2
    assert abs(again["slow/134.mp4"].duration - SLOW_DURATION) < 0.2
    assert again["slow/134.mp4"].size >= 3 * 1024 * 1024
    for itag, width, height in LADDER_RUNGS:
        media = again[f"ladder/{itag}.mp4"]
        assert (media.width, media.height) == (width, height)
    assert again["standard/hqdefault.jpg"].width == 480


# -- media server --------------------------------------------------------------------------


def test_range_requests_return_exact_bytes(server: MediaServer, yt: OfflineYouTube) -> None:
    data = (yt.site_root / AUDIO_PATH.lstrip("/")).read_bytes()
    size = len(data)

    status, headers, body = _get(server, AUDIO_PATH, {"Range": "bytes=100-1123"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-1123/{size}"
    assert headers["Content-Length"] == "1024"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "audio/mp4"
    assert body == data[100:1124]

    status, headers, body = _get(server, AUDIO_PATH, {"Range": f"bytes={size - 10}-"})
    assert (status, body) == (206, data[-10:])
    status, headers, body = _get(server, AUDIO_PATH, {"Range": "bytes=-500"})
    assert (status, body) == (206, data[-500:])
    assert headers["Content-Range"] == f"bytes {size - 500}-{size - 1}/{size}"
    status, headers, body = _get(server, AUDIO_PATH, {"Range": f"bytes={size}-"})
    assert (status, body) == (416, b"")
    assert headers["Content-Range"] == f"bytes */{size}"
    status, headers, body = _get(server, AUDIO_PATH)
    assert (status, len(body), headers["Content-Length"]) == (200, size, str(size))

    status, headers, body = _get(server, AUDIO_PATH, method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(size))

    assert [(h.method, h.range, h.status) for h in server.hits_for("140.m4a")] == [
        ("GET", "bytes=100-1123", 206),
        ("GET", f"bytes={size - 10}-", 206),
        ("GET", "bytes=-500", 206),
        ("GET", f"bytes={size}-", 416),
        ("GET", None, 200),
        ("HEAD", None, 200),
    ]


def test_parse_range_edge_cases() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-", 10) == (2, 9)
    assert parse_range("bytes=2-100", 10) == (2, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=0-1,4-5", 10) is None  # multi-range: served whole
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=5-2", 10) is None
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=10-", 10)


def test_content_types_keep_alive_and_404(server: MediaServer) -> None:
    conn = _conn(server)
    try:
        for path, expected in [
            (f"/media/{STANDARD_VIDEO_ID}/134.mp4", "video/mp4"),
            (f"/media/{STANDARD_VIDEO_ID}/243.webm", "video/webm"),
            (f"/subs/{STANDARD_VIDEO_ID}/manual.en.vtt", "text/vtt; charset=utf-8"),
            (f"/subs/{STANDARD_VIDEO_ID}/auto_rolling.en.json3", "application/json; charset=utf-8"),
            (f"/vi/{STANDARD_VIDEO_ID}/hqdefault.jpg", "image/jpeg"),
            (f"/watch-page/{STANDARD_VIDEO_ID}.html", "text/html; charset=utf-8"),
        ]:
            conn.request("HEAD", path)  # same socket each time: keep-alive works
            resp = conn.getresponse()
            resp.read()
            assert (resp.status, resp.getheader("Content-Type")) == (200, expected), path
        for path in ("/nope.mp4", "/../../etc/passwd", "/media/%2e%2e/catalog.json"):
            conn.request("GET", path)
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (404, b""), path
    finally:
        conn.close()


@pytest.mark.parametrize("code", [403, 404, 429, 500])
def test_status_parameter_forces_status(server: MediaServer, code: int) -> None:
    status, headers, body = _get(server, f"{AUDIO_PATH}?status={code}")
    assert (status, body, headers["Content-Length"]) == (code, b"", "0")
    assert server.hits_for(AUDIO_PATH)[-1].query == {"status": str(code)}
    assert server.hits_for(AUDIO_PATH)[-1].status == code


def test_fail_next_injects_status_once(server: MediaServer) -> None:
    server.fail_next("140.m4a", 403)
    assert _get(server, AUDIO_PATH, method="HEAD")[0] == 403
    assert _get(server, AUDIO_PATH, method="HEAD")[0] == 200


def test_fail_after_drops_connection_and_delay_waits(server: MediaServer) -> None:
    conn = _conn(server)
    try:
        conn.request("GET", f"{AUDIO_PATH}?fail_after=1000")
        with pytest.raises(http.client.IncompleteRead) as excinfo:
            conn.getresponse().read()
        assert len(excinfo.value.partial) == 1000
    finally:
        conn.close()
    started = time.monotonic()
    assert _get(server, f"{AUDIO_PATH}?delay=0.3", method="HEAD")[0] == 200
    assert time.monotonic() - started >= 0.3


def test_rate_parameter_throttles(server: MediaServer, capfd: pytest.CaptureFixture[str]) -> None:
    rate = 100_000
    conn = _conn(server)
    try:
        started = time.monotonic()
        conn.request("GET", f"{AUDIO_PATH}?rate={rate}", headers={"Range": "bytes=0-99999"})
        resp = conn.getresponse()
        first = resp.read(1024)
        first_byte = time.monotonic() - started
        rest = resp.read()
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert len(first) + len(rest) == 100_000
    assert first_byte < 0.3
    assert 0.8 < elapsed < 2.5, elapsed

    started = time.monotonic()
    assert len(_get(server, AUDIO_PATH, {"Range": "bytes=0-99999"})[2]) == 100_000
    assert time.monotonic() - started < 0.5

    # Hang up mid-transfer: the server must shrug it off without printing tracebacks.
    conn = _conn(server)
    conn.request("GET", f"{AUDIO_PATH}?rate=50000")
    conn.getresponse().read(2048)
    conn.close()
    time.sleep(0.3)
    assert "Traceback" not in capfd.readouterr().err


def test_slow_video_is_big_and_throttled(yt: OfflineYouTube) -> None:
    entry = yt.catalog["videos"][SLOW_VIDEO_ID]
    video = next(f for f in entry["formats"] if f["format_id"] == "134")
    assert video["url"].endswith(f"?rate={DEFAULT_SLOW_RATE}")
    assert video["filesize"] >= 3 * 1024 * 1024
    assert video["filesize"] / DEFAULT_SLOW_RATE > 20  # a full download takes tens of seconds
    assert yt.format_path(SLOW_VIDEO_ID, "134").stat().st_size == video["filesize"]


# -- captions ------------------------------------------------------------------------------


def _vtt_words(text: str) -> list[tuple[int, str]]:
    """(start ms, word) for every timed word in the typing cues of a rolling VTT."""

    def ms(stamp: str) -> int:
        h, m, s = stamp.split(":")
        return round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)

    words: list[tuple[int, str]] = []
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if "-->" not in lines[0] or len(lines) < 3 or "<c>" not in lines[2]:
            continue
        start = ms(lines[0].split(" --> ")[0])
        first, *rest = re.split(r"(<\d\d:\d\d:\d\d\.\d{3}>)", lines[2])
        words.append((start, first))
        for stamp, chunk in zip(rest[::2], rest[1::2], strict=True):
            words.append((ms(stamp[1:-1]), re.sub(r"</?c>", "", chunk).strip()))
    return words


@pytest.mark.parametrize("lang", ["en", "de"])
def test_rolling_vtt_and_json3_are_twins(lang: str) -> None:
    vtt = (CAPTIONS_DIR / f"auto_rolling.{lang}.vtt").read_text(encoding="utf-8")
    doc = json.loads((CAPTIONS_DIR / f"auto_rolling.{lang}.json3").read_text(encoding="utf-8"))
    assert vtt.startswith(f"WEBVTT\nKind: captions\nLanguage: {lang}\n")
    json_words = [
        (event["tStartMs"] + seg.get("tOffsetMs", 0), seg["utf8"].strip())
        for event in doc["events"]
        if "segs" in event and not event.get("aAppend")
        for seg in event["segs"]
    ]
    assert _vtt_words(vtt) == json_words
    assert len(json_words) > 40
    assert json_words[-1][0] < STANDARD_DURATION * 1000


# -- yt-dlp through the plugin ---------------------------------------------------------------


def _worker_env(yt: OfflineYouTube) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != CATALOG_ENV}
    extra = yt.env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra["PYTHONPATH"], env.get("PYTHONPATH")]))
    env[CATALOG_ENV] = extra[CATALOG_ENV]
    return env


def test_subprocess_worker_downloads_through_plugin(yt: OfflineYouTube, tmp_path: Path) -> None:
    env = _worker_env(yt)
    yt.server.reset_hits()
    proc = subprocess.run(
        [sys.executable, "-c", SUBPROCESS_SCRIPT, yt.video_url(STANDARD_VIDEO_ID), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["extractor"] == "youtube"
    assert result["format_id"] == "243+251"
    merged = Path(result["filepath"])
    assert merged.suffix == ".mp4"
    assert abs(_probe_duration(merged) - STANDARD_DURATION) < 0.5
    assert _probe_codecs(merged) == ["vp9", "opus"]
    assert (
        (tmp_path / f"{STANDARD_VIDEO_ID}.en.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    )
    assert (tmp_path / f"{STANDARD_VIDEO_ID}.jpg").stat().st_size > 1000
    video_hits = yt.server.hits_for(f"/media/{STANDARD_VIDEO_ID}/243.webm")
    assert video_hits and video_hits[0].range is not None and video_hits[0].status == 206


@pytest.mark.parametrize("form", ["short_url", "shorts_url"])
def test_in_process_download_via_url_variants(
    yt: OfflineYouTube, tmp_path: Path, form: str
) -> None:
    url = getattr(yt, form)(STANDARD_VIDEO_ID)
    hooks: list[dict[str, Any]] = []
    params = {
        "format": "bv[ext=mp4]+ba[ext=m4a]/b",
        "merge_output_format": "mp4",
        "writesubtitles": True,
        "subtitleslangs": ["en"],
        "writethumbnail": True,
        "progress_hooks": [hooks.append],
    }
    with _ydl(tmp_path, **params) as ydl:
        info = ydl.extract_info(url)
    assert info["id"] == STANDARD_VIDEO_ID
    assert info["webpage_url"] == yt.video_url(STANDARD_VIDEO_ID)
    assert info["format_id"] == "134+140"
    assert info["title"] == "Big Buck Bunny: 60fps / 4K \u2713 (offline fixture)"
    merged = Path(info["requested_downloads"][0]["filepath"])
    assert abs(_probe_duration(merged) - STANDARD_DURATION) < 0.5
    assert _probe_codecs(merged) == ["h264", "aac"]
    assert (tmp_path / f"{STANDARD_VIDEO_ID}.en.vtt").exists()
    assert (tmp_path / f"{STANDARD_VIDEO_ID}.jpg").exists()
    # Subtitle downloads report through the same progress hooks, before the media.
    finished = [h["info_dict"].get("format_id") for h in hooks if h["status"] == "finished"]
    assert finished == [None, "134", "140"]


def test_automatic_captions_offer_json3_and_vtt(yt: OfflineYouTube, tmp_path: Path) -> None:
    with _ydl(tmp_path) as ydl:
        info = ydl.extract_info(yt.video_url(STANDARD_VIDEO_ID), download=False)
    assert sorted(info["subtitles"]) == ["de", "en"]
    assert sorted(info["automatic_captions"]) == ["de", "en", "en-orig", "fr"]
    assert "tlang=fr" in info["automatic_captions"]["fr"][0]["url"], "a machine translation"
    assert [s["ext"] for s in info["automatic_captions"]["en"]] == ["json3", "vtt"]
    assert [t["width"] for t in info["thumbnails"]] == [120, 320, 480]
    assert info["duration"] == STANDARD_DURATION
    assert info["upload_date"] == "20240115"
    assert info["channel"] == "Blender"


@pytest.mark.parametrize(
    ("video_id", "message"),
    [
        (PRIVATE_VIDEO_ID, "Private video. Sign in if you've been granted access to this video"),
        (REMOVED_VIDEO_ID, "Video unavailable. This video has been removed by the uploader"),
        (MISSING_VIDEO_ID, "Video unavailable"),
    ],
)
def test_unavailable_videos_raise_youtube_errors(
    yt: OfflineYouTube, tmp_path: Path, video_id: str, message: str
) -> None:
    with _ydl(tmp_path) as ydl, pytest.raises(DownloadError) as excinfo:
        ydl.extract_info(yt.video_url(video_id), download=False)
    assert f"[youtube] {video_id}: {message}" in str(excinfo.value)
    assert excinfo.value.exc_info is not None
    assert excinfo.value.exc_info[1].expected is True


def test_ladder_format_selection(yt: OfflineYouTube, tmp_path: Path) -> None:
    url = yt.video_url(LADDER_VIDEO_ID)
    with _ydl(tmp_path, format="bv*[height<=720]+ba/b[height<=720]") as ydl:
        info = ydl.extract_info(url, download=False)
    assert info["format_id"] == "136+251"
    assert (info["width"], info["height"]) == (1280, 720)
    with _ydl(tmp_path, format="bv*+ba/b") as ydl:
        info = ydl.extract_info(url, download=False)
    assert info["requested_formats"][0]["height"] == 2160
    assert sorted(f["height"] for f in info["formats"] if f["vcodec"] != "none") == sorted(
        h for _, _, h in LADDER_RUNGS
    )


def test_generic_watch_page(yt: OfflineYouTube, tmp_path: Path) -> None:
    with _ydl(tmp_path) as ydl:
        info = ydl.extract_info(yt.watch_page_url(STANDARD_VIDEO_ID), download=False)
    assert info["extractor_key"] == "HTML5MediaEmbed"
    assert info["url"].endswith(f"/media/{STANDARD_VIDEO_ID}/18.mp4")


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("YoutubeIE", f"https://www.youtube.com/watch?v={STANDARD_VIDEO_ID}"),
        ("YoutubeTabIE", f"https://www.youtube.com/playlist?list={PLAYLIST_ID}"),
    ],
)
def test_plugin_defers_to_youtube_without_catalog(
    yt: OfflineYouTube, monkeypatch: pytest.MonkeyPatch, name: str, url: str
) -> None:
    from yt_dlp.extractor import youtube

    override = getattr(youtube, name)  # the plugin replaced the name when it registered
    assert override.__module__ == "yt_dlp_plugins.extractor.youtube_offline"
    assert Path(sys.modules[override.__module__].__file__ or "").is_relative_to(PLUGIN_DIR)
    monkeypatch.setattr(override.__wrapped__, "_real_extract", lambda self, url: {"real": url})
    monkeypatch.delenv(CATALOG_ENV)
    assert override()._real_extract(url) == {"real": url}


# -- playlists and channels ------------------------------------------------------------------

APPROXIMATE_DATES = {"extractor_args": {"youtubetab": {"approximate_date": [""]}}}


def _flat(url: str, **params: Any) -> dict[str, Any]:
    """What a parent job sees when it expands ``url`` without resolving the entries."""
    options = {"quiet": True, "no_warnings": True, "extract_flat": "in_playlist", **params}
    with yt_dlp.YoutubeDL(options) as ydl:
        info: dict[str, Any] = ydl.extract_info(url, download=False)
    return info


def _ids(info: dict[str, Any]) -> list[str]:
    return [entry["id"] for entry in info["entries"]]


def test_flat_playlist_lists_every_entry_in_order(yt: OfflineYouTube) -> None:
    info = _flat(yt.playlist_url(PLAYLIST_ID))
    assert (info["_type"], info["id"]) == ("playlist", PLAYLIST_ID)
    assert info["extractor"] == "youtube:tab"
    assert info["webpage_url"] == f"https://www.youtube.com/playlist?list={PLAYLIST_ID}"
    assert (info["channel"], info["playlist_count"]) == ("Blender", 12)
    assert _ids(info) == list(PLAYLIST_ENTRY_IDS)
    assert len(set(PLAYLIST_VIDEO_IDS)) == 10 and PLAYLIST_ENTRY_IDS[3] == PRIVATE_VIDEO_ID
    first, private, removed = (info["entries"][index] for index in (0, 3, 8))
    assert first["_type"] == "url" and first["ie_key"] == "Youtube"
    assert first["url"] == yt.video_url(PLAYLIST_VIDEO_IDS[0])
    assert (first["title"], first["duration"]) == ("Playlist clip 01 (offline fixture)", 2)
    # Like YouTube's playlist rows: no upload date unless approximate_date is asked for.
    assert "upload_date" not in first and first["timestamp"] is None
    assert (private["title"], removed["title"]) == ("[Private video]", "[Deleted video]")


@pytest.mark.parametrize(
    ("params", "positions"),
    [
        ({"playlist_items": "1-3,8"}, [1, 2, 3, 8]),
        ({"playlistend": 5}, [1, 2, 3, 4, 5]),
        ({"playliststart": 10}, [10, 11, 12]),
        ({"playlist_items": "-2:"}, [11, 12]),
    ],
)
def test_flat_playlist_selects_positions(
    yt: OfflineYouTube, params: dict[str, Any], positions: list[int]
) -> None:
    info = _flat(yt.playlist_url(PLAYLIST_ID), **params)
    assert _ids(info) == [PLAYLIST_ENTRY_IDS[position - 1] for position in positions]
    # The entries themselves carry no playlist_index; yt-dlp reports the positions here.
    assert info["requested_entries"] == positions


@pytest.mark.parametrize(
    "url",
    [
        PLAYLIST_ID,  # YoutubePlaylistIE hands these to the (overridden) tab extractor
        f"https://www.youtube.com/embed/videoseries?list={PLAYLIST_ID}",
        f"https://m.youtube.com/playlist?list={PLAYLIST_ID}",
        f"https://www.youtube.com/watch?list={PLAYLIST_ID}",
    ],
)
def test_other_playlist_url_forms(url: str) -> None:
    assert _ids(_flat(url)) == list(PLAYLIST_ENTRY_IDS)


@pytest.mark.parametrize(("noplaylist", "expected"), [(True, "video"), (False, "playlist")])
def test_watch_url_with_list_follows_noplaylist(
    yt: OfflineYouTube, noplaylist: bool, expected: str
) -> None:
    video_id = PLAYLIST_VIDEO_IDS[2]
    info = _flat(yt.video_url(video_id, list_id=PLAYLIST_ID), noplaylist=noplaylist)
    assert info.get("_type", "video") == expected
    assert info["id"] == (video_id if noplaylist else PLAYLIST_ID)
    if noplaylist:
        assert info["title"] == "Playlist clip 03 (offline fixture)"
    else:
        assert len(info["entries"]) == 12


@pytest.mark.parametrize(
    ("channel", "tab", "expected"),
    [
        (CHANNEL_HANDLE, "videos", CHANNEL_VIDEO_IDS),
        (CHANNEL_HANDLE.upper(), "videos", CHANNEL_VIDEO_IDS),
        (CHANNEL_ID, "videos", CHANNEL_VIDEO_IDS),
        (CHANNEL_HANDLE, "shorts", CHANNEL_SHORT_IDS),
    ],
)
def test_channel_tabs(
    yt: OfflineYouTube, channel: str, tab: str, expected: tuple[str, ...]
) -> None:
    info = _flat(yt.channel_url(channel, tab))
    assert (info["id"], info["title"]) == (CHANNEL_ID, f"{CHANNEL_TITLE} - {tab.capitalize()}")
    assert info["webpage_url"] == yt.channel_url(channel, tab)
    assert (info["uploader_id"], info["channel"]) == (CHANNEL_HANDLE, CHANNEL_TITLE)
    assert _ids(info) == list(expected)
    path = "shorts/" if tab == "shorts" else "watch?v="
    assert [entry["url"] for entry in info["entries"]] == [
        f"https://www.youtube.com/{path}{video_id}" for video_id in expected
    ]


@pytest.mark.parametrize("channel", [CHANNEL_HANDLE, CHANNEL_ID])
def test_bare_channel_url_nests_one_playlist_per_tab(yt: OfflineYouTube, channel: str) -> None:
    # YoutubeTabIE's "all uploads" answer for a channel with videos and shorts.
    info = _flat(yt.channel_url(channel))
    assert (info["_type"], info["id"], info["title"]) == ("playlist", CHANNEL_ID, CHANNEL_TITLE)
    videos, shorts = info["entries"]
    assert (videos["_type"], shorts["_type"]) == ("playlist", "playlist")
    assert (_ids(videos), _ids(shorts)) == (list(CHANNEL_VIDEO_IDS), list(CHANNEL_SHORT_IDS))
    # The UU… uploads playlist YoutubeTabIE points to lists both, newest first, unnested.
    uploads = _flat(yt.playlist_url(f"UU{CHANNEL_ID[2:]}"))
    assert sorted(_ids(uploads)) == sorted(CHANNEL_VIDEO_IDS + CHANNEL_SHORT_IDS)
    assert _ids(uploads)[:2] == [CHANNEL_VIDEO_IDS[0], CHANNEL_SHORT_IDS[0]]


def test_daterange_does_not_filter_flat_entries(yt: OfflineYouTube, tmp_path: Path) -> None:
    in_2024 = ["chVideo0004", "chVideo0003", "chVideo0002"]
    url = yt.channel_url(CHANNEL_HANDLE, "videos")
    # dateafter/datebefore only look at upload_date, which flat YouTube rows never have.
    assert _ids(_flat(url, daterange=DateRange("20240101", "20241231"))) == list(CHANNEL_VIDEO_IDS)
    # With approximate_date the rows get a timestamp, which a match_filter can compare.
    start, end = 1704067200, 1735689600  # 2024-01-01, 2025-01-01 (UTC)
    in_range = match_filter_func(f"timestamp >= {start} & timestamp < {end}")
    assert _ids(_flat(url, match_filter=in_range, **APPROXIMATE_DATES)) == in_2024
    # The exact date arrives once a child resolves its video: daterange skips the download.
    with _ydl(tmp_path, format="140", daterange=DateRange("20240101", "20241231")) as ydl:
        for video_id in (CHANNEL_VIDEO_IDS[0], in_2024[0]):
            info = ydl.extract_info(yt.video_url(video_id))
            assert ("requested_downloads" in info) == (video_id in in_2024), video_id


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"playlist?list={MISSING_PLAYLIST_ID}", "YouTube said: The playlist does not exist."),
        (MISSING_CHANNEL_HANDLE, "YouTube said: This channel does not exist."),
        (f"{CHANNEL_HANDLE}/streams", "This channel does not have a streams tab"),
    ],
)
def test_unknown_playlists_and_channels_raise_youtube_errors(path: str, message: str) -> None:
    with pytest.raises(DownloadError) as excinfo:
        _flat(f"https://www.youtube.com/{path}")
    item_id = path.removeprefix("playlist?list=").split("/")[0]
    assert f"[youtube:tab] {item_id}: {message}" in str(excinfo.value)
    assert excinfo.value.exc_info is not None
    assert excinfo.value.exc_info[1].expected is True


def test_flat_entry_downloads_with_its_own_transcript(yt: OfflineYouTube, tmp_path: Path) -> None:
    entry = _flat(yt.playlist_url(PLAYLIST_ID), playlist_items="2")["entries"][0]
    assert entry["id"] == UNIQUE_WORD_VIDEO_ID
    params = {"format": "160+140", "writesubtitles": True, "subtitleslangs": ["en"]}
    with _ydl(tmp_path, **params) as ydl:
        info = ydl.extract_info(entry["url"])
    assert (info["id"], info["upload_date"]) == (UNIQUE_WORD_VIDEO_ID, "20240302")
    assert abs(_probe_duration(Path(info["requested_downloads"][0]["filepath"])) - 2) < 0.5
    transcript = (tmp_path / f"{UNIQUE_WORD_VIDEO_ID}.en.vtt").read_text(encoding="utf-8")
    assert UNIQUE_TRANSCRIPT_WORD in transcript
    others = [yt.site_root / "subs" / vid / "manual.en.vtt" for vid in PLAYLIST_SUBTITLED_IDS]
    assert [UNIQUE_TRANSCRIPT_WORD in path.read_text(encoding="utf-8") for path in others] == [
        vid == UNIQUE_WORD_VIDEO_ID for vid in PLAYLIST_SUBTITLED_IDS
    ]


def test_unflattened_playlist_resolves_entries_through_video_extractor(tmp_path: Path) -> None:
    with _ydl(tmp_path, playlist_items="3-5", ignoreerrors=True) as ydl:
        info = ydl.extract_info(PLAYLIST_ID, download=False)
    resolved, private, after = info["entries"]
    assert (resolved["id"], resolved["format_id"]) == (PLAYLIST_VIDEO_IDS[2], "266+251")
    assert private is None  # "Private video" error, skipped under ignoreerrors
    assert after["id"] == PLAYLIST_VIDEO_IDS[3]


@pytest.fixture
def fresh_yt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OfflineYouTube]:
    """A private site whose catalog a test may edit; the plugin reads it until teardown."""
    with OfflineYouTube(tmp_path / "site") as site:
        monkeypatch.setenv(CATALOG_ENV, str(site.catalog_path))
        yield site


def test_new_uploads_show_up_on_the_next_expansion(fresh_yt: OfflineYouTube) -> None:
    fresh_yt.add_playlist_entry(PLAYLIST_ID, "newUpload01")
    fresh_yt.add_playlist_entry(PLAYLIST_ID, "newUpload02", position=1, upload_date="20200101")
    ids = _ids(_flat(fresh_yt.playlist_url(PLAYLIST_ID)))
    assert ids == ["newUpload02", *PLAYLIST_ENTRY_IDS, "newUpload01"]
    fresh_yt.add_channel_video(CHANNEL_HANDLE, "chVideo0007", "20250801")
    fresh_yt.add_channel_video(CHANNEL_HANDLE, "chVideoOld1", "20240101")
    tab = _flat(fresh_yt.channel_url(CHANNEL_HANDLE, "videos"))
    assert _ids(tab) == ["chVideo0007", *CHANNEL_VIDEO_IDS[:5], "chVideoOld1", "chVideo0001"]
    with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
        info = ydl.extract_info(fresh_yt.video_url("chVideo0007"), download=False)
    assert (info["upload_date"], info["uploader_id"]) == ("20250801", CHANNEL_HANDLE)
    assert info["format_id"] == "266+251"


def test_tests_can_add_their_own_playlists_and_channels(fresh_yt: OfflineYouTube) -> None:
    list_id = "PL" + "ownPlaylist".ljust(32, "0")
    fresh_yt.add_playlist(list_id, ["ownVideo001", PLAYLIST_VIDEO_IDS[0], REMOVED_VIDEO_ID])
    info = _flat(fresh_yt.playlist_url(list_id))
    assert _ids(info) == ["ownVideo001", PLAYLIST_VIDEO_IDS[0], REMOVED_VIDEO_ID]
    assert info["entries"][0]["duration"] == 2
    channel_id = "UC" + "ownChannel".ljust(22, "0")
    fresh_yt.add_channel(
        "@ownchannel", channel_id, {"ownOld00001": "20200101", "ownNew00001": "20240101"}
    )
    tab = _flat(fresh_yt.channel_url(channel_id))  # one tab: no nesting
    assert (tab["id"], tab["title"]) == (channel_id, "ownchannel - Videos")
    assert _ids(tab) == ["ownNew00001", "ownOld00001"]


def test_subprocess_worker_expands_a_playlist(yt: OfflineYouTube, tmp_path: Path) -> None:
    args = [
        yt.playlist_url(PLAYLIST_ID),
        yt.video_url(PLAYLIST_VIDEO_IDS[0], list_id=PLAYLIST_ID),
        yt.channel_url(CHANNEL_HANDLE),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", PLAYLIST_SUBPROCESS_SCRIPT, *args, str(tmp_path)],
        env=_worker_env(yt),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["picked"] == [*PLAYLIST_VIDEO_IDS[:3], PLAYLIST_VIDEO_IDS[6]]
    assert result["single"] == ["video", PLAYLIST_VIDEO_IDS[0]]
    assert result["tabs"] == [list(CHANNEL_VIDEO_IDS), list(CHANNEL_SHORT_IDS)]
    assert Path(result["child"]) == tmp_path / f"{PLAYLIST_VIDEO_IDS[1]}.m4a"
    assert Path(result["child"]).stat().st_size > 1000


def test_activation_after_plugins_loaded_swaps_both_extractors(yt: OfflineYouTube) -> None:
    env = {key: value for key, value in os.environ.items() if key != CATALOG_ENV}
    env["PYTHONPATH"] = str(PLUGIN_DIR.parent.parent)  # the repository, not tests/plugins
    proc = subprocess.run(
        [sys.executable, "-c", LATE_ACTIVATION_SCRIPT, str(yt.catalog_path), yt.playlist_url()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["12"]
