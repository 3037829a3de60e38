"""Submitting playlists, channels and batches in-process, on SQLite and PostgreSQL: what is
accepted, with which effective options, and the clear errors for the rest."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.factories import KeyFactory

PLAYLIST = "https://www.youtube.com/playlist?list=PLofflineFixturePlaylist1234567890"
WATCH = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"


async def create(client: httpx.AsyncClient, key: str, url: str, **body: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/downloads", json={"url": url, **body}, headers={"X-API-Key": key}
    )


@pytest.mark.parametrize(
    ("url", "kind", "stored"),
    [
        (PLAYLIST, "playlist", PLAYLIST),
        (f"{WATCH}&list=PLabc", "video", f"{WATCH}&list=PLabc"),
        ("https://www.youtube.com/@someone", "channel", "https://www.youtube.com/@someone"),
        (
            "https://youtube.com/@someone/shorts/",
            "channel",
            "https://www.youtube.com/@someone/shorts",
        ),
        (
            "https://www.youtube.com/channel/UCofflineChannelFixture0/videos",
            "channel",
            "https://www.youtube.com/channel/UCofflineChannelFixture0/videos",
        ),
    ],
)
async def test_a_url_becomes_a_video_playlist_or_channel_job(
    client: httpx.AsyncClient, make_key: KeyFactory, url: str, kind: str, stored: str
) -> None:
    response = await create(client, make_key(), url)
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["kind"], body["url"], body["status"]) == (kind, stored, "queued")
    if kind == "video":
        assert body["collection"] is None and body["children"] is None
    else:
        assert body["children"]["total"] == 0
        assert body["collection"]["concurrency"] == 3 and body["collection"]["max_items"] == 500


async def test_playlist_options_are_capped_and_dates_accept_both_spellings(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    response = await create(
        client,
        make_key(),
        PLAYLIST,
        max_items=100_000,
        concurrency=64,
        playlist_items="1-5, 8",
        date_after="20240101",
        date_before="2024-06-30",
        skip_existing=True,
    )
    assert response.status_code == 202, response.text
    assert response.json()["collection"] == {
        "playlist_items": "1-5,8",
        "max_items": 500,
        "date_after": "2024-01-01",
        "date_before": "2024-06-30",
        "concurrency": 10,
        "skip_existing": True,
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": WATCH, "playlist_items": "1-3"}, 422, "invalid_options"),
        ({"url": WATCH, "skip_existing": True}, 422, "invalid_options"),
        ({"url": WATCH, "playlist": True}, 400, "unsupported_url"),
        ({"url": PLAYLIST, "playlist_items": "1-x"}, 422, "validation_error"),
        ({"url": PLAYLIST, "playlist_items": "1,,2"}, 422, "validation_error"),
        ({"url": PLAYLIST, "concurrency": 0}, 422, "validation_error"),
        ({"url": PLAYLIST, "date_after": "2024-05-01", "date_before": "2024-01-01"}, 422,
         "invalid_options"),
        ({"url": PLAYLIST, "date_after": "yesterday"}, 422, "validation_error"),
        ({"url": "https://www.youtube.com/@someone/community"}, 400, "unsupported_url"),
        ({"url": "https://www.youtube.com/playlist"}, 400, "unsupported_url"),
        ({"url": PLAYLIST, "webhook_url": "http://127.0.0.1:9/hook"}, 400, "forbidden_address"),
        ({"url": PLAYLIST, "webhook_url": "ftp://example.com/hook"}, 422, "validation_error"),
    ],
)  # fmt: skip
async def test_bad_playlist_requests_get_a_clear_error_and_create_nothing(
    client: httpx.AsyncClient, make_key: KeyFactory, body: dict[str, Any], status: int, code: str
) -> None:
    key = make_key()
    response = await client.post("/api/v1/downloads", json=body, headers={"X-API-Key": key})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    listed = await client.get("/api/v1/downloads", headers={"X-API-Key": key})
    assert listed.json()["total"] == 0


async def test_children_of_another_key_are_not_listed(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    owner, other = make_key(), make_key()
    parent = (await create(client, owner, PLAYLIST)).json()
    response = await client.get(
        "/api/v1/downloads", params={"parent_id": parent["job_id"]}, headers={"X-API-Key": other}
    )
    assert response.status_code == 200 and response.json()["total"] == 0
    response = await client.get(
        f"/api/v1/downloads/{parent['job_id']}", headers={"X-API-Key": other}
    )
    assert response.status_code == 404
