"""GET /api/v1/info and /api/v1/formats: yt-dlp lookups without downloading, cached in
Redis, refusing what POST /downloads refuses. On both databases (the key lookup)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.factories import KeyFactory
from tests.support.offline_youtube import (
    LADDER_VIDEO_ID,
    LIVE_VIDEO_ID,
    PRIVATE_VIDEO_ID,
    STANDARD_VIDEO_ID,
    OfflineYouTube,
)


async def test_info_describes_the_video_without_downloading_it(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    youtube_in_process.server.reset_hits()
    response = await client.get(
        "/api/v1/info",
        params={"url": youtube_in_process.video_url(STANDARD_VIDEO_ID)},
        headers={"X-API-Key": make_key()},
    )
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["video_id"] == STANDARD_VIDEO_ID
    assert info["title"].startswith("Big Buck Bunny")
    assert info["duration"] == 20 and info["channel_name"] == "Blender"
    assert info["upload_date"] == "2024-01-15"
    assert [t["width"] for t in info["thumbnails"]] == [120, 320, 480]
    assert info["subtitle_languages"] == ["en", "de"]
    assert info["automatic_caption_languages"] == ["en", "de"]
    assert info["translation_languages"] == ["fr"]
    assert info["is_live"] is False and info["is_playlist"] is False
    assert youtube_in_process.server.hits == [], "nothing fetched from the media site"


async def test_live_streams_say_so(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    response = await client.get(
        "/api/v1/info",
        params={"url": youtube_in_process.video_url(LIVE_VIDEO_ID)},
        headers={"X-API-Key": make_key()},
    )
    assert response.json()["is_live"] is True


async def test_formats_list_and_what_each_preset_picks(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    response = await client.get(
        "/api/v1/formats",
        params={"url": youtube_in_process.video_url(LADDER_VIDEO_ID)},
        headers={"X-API-Key": make_key()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    heights = {f["format_id"]: f["height"] for f in body["formats"]}
    assert heights["266"] == 2160 and heights["134"] == 360
    audio = next(f for f in body["formats"] if f["format_id"] == "140")
    assert audio["vcodec"] == "none" and audio["resolution"] == "audio only" and audio["filesize"]
    picks = {quality: choice["height"] for quality, choice in body["presets"].items()}
    assert picks == {
        "best": 2160, "worst": 144, "2160p": 2160, "1440p": 1440, "1080p": 1080,
        "720p": 720, "480p": 480, "360p": 360,
    }  # fmt: skip
    assert body["presets"]["1080p"]["format_ids"] == ["137", "140"]


async def test_lookups_are_cached_for_a_while(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    video_id = "cachedVid01"
    entry = {**youtube_in_process.catalog["videos"][STANDARD_VIDEO_ID], "id": video_id}
    youtube_in_process.set_entry(video_id, {**entry, "title": "First title"})
    headers = {"X-API-Key": make_key()}
    url = youtube_in_process.video_url(video_id)

    first = await client.get("/api/v1/info", params={"url": url}, headers=headers)
    youtube_in_process.update_entry(video_id, title="Changed title")
    second = await client.get("/api/v1/info", params={"url": url}, headers=headers)
    formats = await client.get("/api/v1/formats", params={"url": url}, headers=headers)

    assert first.json()["title"] == second.json()["title"] == "First title"
    assert formats.json()["title"] == "First title", "info and formats share the cache"


@pytest.mark.parametrize("route", ["/api/v1/info", "/api/v1/formats"])
@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("https://vimeo.com/76979871", 400, "unsupported_url"),
        ("https://www.youtube.com/feed/trending", 400, "unsupported_url"),
        ("not a url", 422, "validation_error"),
        (f"https://www.youtube.com/watch?v={PRIVATE_VIDEO_ID}", 422, "video_private"),
    ],
)
async def test_refuses_what_downloads_refuse(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    youtube_in_process: OfflineYouTube,
    route: str,
    url: str,
    status: int,
    code: str,
) -> None:
    response = await client.get(route, params={"url": url}, headers={"X-API-Key": make_key()})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_info_needs_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/info", params={"url": "https://youtu.be/aqz-KE-bpKQ"})
    assert response.status_code == 401
