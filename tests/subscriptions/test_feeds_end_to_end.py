"""A podcast app's view of a subscription, end to end: real API and worker processes, a
check of the offline channel, then the feed fetched and parsed as a podcast app does, and
each episode downloaded from its enclosure URL with no API key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import feedparser
import httpx
import pytest

from tests.support.jobs import watch
from tests.support.offline_youtube import CHANNEL_TITLE, CHANNEL_VIDEO_IDS
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


async def checked_subscription(http: httpx.AsyncClient, stack: Stack, key: str) -> str:
    """An audio subscription of the offline channel after its first check (the newest two
    uploads)."""
    headers = {"X-API-Key": key}
    created = await http.post(
        "/api/v1/subscriptions",
        json={"url": stack.youtube.channel_url(), "options": {"audio_only": True}, "backfill": 2},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    subscription_id: str = created.json()["id"]
    check = await http.post(f"/api/v1/subscriptions/{subscription_id}/check", headers=headers)
    assert check.status_code == 202, check.text
    watched = await watch(stack.ws_url, check.json()["job_id"], key=key, within=180)
    assert watched.final["status"] == "completed", watched.final
    return subscription_id


async def stored_audio(http: httpx.AsyncClient, key: str) -> dict[str, bytes]:
    """The audio files of the key's downloads, by video id, as the downloads API serves them."""
    headers = {"X-API-Key": key}
    found: dict[str, bytes] = {}
    listing = await http.get("/api/v1/downloads", params={"limit": 100}, headers=headers)
    for submission in listing.json()["items"]:
        children = await http.get(
            "/api/v1/downloads", params={"parent_id": submission["job_id"]}, headers=headers
        )
        for job in children.json()["items"]:
            audio: list[dict[str, Any]] = [f for f in job["files"] if f["kind"] == "audio"]
            for stored in audio:
                response = await http.get(stored["url"], headers=headers)
                found[job["metadata"]["video_id"]] = response.content
    return found


async def test_a_checked_subscription_is_a_podcast_whose_episodes_download_without_a_key(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    subscription_id = await checked_subscription(http, stack, key)

    enabled = await http.post(
        f"/api/v1/subscriptions/{subscription_id}/feed",
        json={"media": "audio"},
        headers={"X-API-Key": key},
    )
    assert enabled.status_code == 201, enabled.text
    feed_url = enabled.json()["url"]
    assert feed_url.startswith(stack.base_url)

    async with httpx.AsyncClient(timeout=30) as podcast_app:  # no key anywhere
        fetched = await podcast_app.get(feed_url)
        assert fetched.status_code == 200
        parsed = feedparser.parse(fetched.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "rss20"
        assert parsed.feed.author == CHANNEL_TITLE
        assert "itunes_explicit" in parsed.feed
        assert [entry.id for entry in parsed.entries] == list(CHANNEL_VIDEO_IDS[:2])

        expected = await stored_audio(http, key)
        for entry in parsed.entries:
            assert entry.itunes_duration
            (enclosure,) = entry.enclosures
            episode = await podcast_app.get(enclosure.href, follow_redirects=True)
            assert episode.status_code == 200, episode.text
            assert episode.content == expected[entry.id]
            assert int(enclosure.length) == len(episode.content)
            assert enclosure.type.startswith("audio/")

    revoked = await http.delete(
        f"/api/v1/subscriptions/{subscription_id}/feed", headers={"X-API-Key": key}
    )
    assert revoked.status_code == 204
    gone = await http.get(feed_url)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "feed_not_found"
