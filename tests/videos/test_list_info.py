"""GET /api/v1/info on a playlist or channel URL: the flat extraction a parent job starts
with, so a client can show what it is about to queue (title and number of entries)."""

from __future__ import annotations

import httpx

from tests.support.factories import KeyFactory
from tests.support.offline_youtube import (
    CHANNEL_SHORT_IDS,
    CHANNEL_TITLE,
    CHANNEL_VIDEO_IDS,
    MISSING_PLAYLIST_ID,
    PLAYLIST_ENTRY_IDS,
    PLAYLIST_ID,
    OfflineYouTube,
)


async def test_a_playlist_shows_its_title_and_entry_count(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    youtube_in_process.server.reset_hits()
    response = await client.get(
        "/api/v1/info",
        params={"url": youtube_in_process.playlist_url(PLAYLIST_ID)},
        headers={"X-API-Key": make_key()},
    )
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["is_playlist"] is True
    assert info["video_id"] == PLAYLIST_ID
    assert info["title"].startswith("Offline fixture playlist")
    assert info["entry_count"] == len(PLAYLIST_ENTRY_IDS) == 12
    assert youtube_in_process.server.hits == [], "nothing fetched from the media site"


async def test_a_channel_counts_the_entries_of_its_tabs(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    response = await client.get(
        "/api/v1/info",
        params={"url": youtube_in_process.channel_url()},
        headers={"X-API-Key": make_key()},
    )
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["is_playlist"] is True
    assert CHANNEL_TITLE in (info["title"] or "")
    assert info["entry_count"] == len(CHANNEL_VIDEO_IDS) + len(CHANNEL_SHORT_IDS)


async def test_a_missing_playlist_is_refused_in_the_apis_words(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    response = await client.get(
        "/api/v1/info",
        params={"url": youtube_in_process.playlist_url(MISSING_PLAYLIST_ID)},
        headers={"X-API-Key": make_key()},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "playlist_not_found"


async def test_formats_still_take_only_a_single_video(
    client: httpx.AsyncClient, make_key: KeyFactory, youtube_in_process: OfflineYouTube
) -> None:
    response = await client.get(
        "/api/v1/formats",
        params={"url": youtube_in_process.playlist_url(PLAYLIST_ID)},
        headers={"X-API-Key": make_key()},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_url"
