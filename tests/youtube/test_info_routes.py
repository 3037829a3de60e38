"""GET /api/v1/info leaves by the routes too: a bot check through the first route answers
503 `throttled` in this service's words and rests that route; the next look-up goes
through the next route."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.core.config import Settings
from tests.security.test_egress_upstream import _Upstream
from tests.support.blocking_proxy import BlockingProxy
from tests.support.factories import KeyFactory
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube

VIDEO_ID = "infoRoute01"


@pytest.fixture
def blocked() -> Iterator[BlockingProxy]:
    with BlockingProxy() as proxy:
        yield proxy


@pytest.fixture
def good_route() -> Iterator[_Upstream]:
    proxy = _Upstream(authorization=None)
    yield proxy
    proxy.close()


@pytest.fixture
def settings(settings: Settings, blocked: BlockingProxy, good_route: _Upstream) -> Settings:
    # Each test's proxies listen on new ports: their breakers (keyed by URL) start closed.
    routes = f"{blocked.url},{good_route.url(credentials=None)}"
    return settings.model_copy(
        update={
            "ytdlp_proxies": Settings(_env_file=None, ytdlp_proxies=routes).ytdlp_proxies,
            "allow_private_networks": True,
            "info_cache_seconds": 0,
        }
    )


async def test_a_bot_check_on_info_rests_the_route_and_the_next_lookup_takes_another(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    youtube_in_process: OfflineYouTube,
    blocked: BlockingProxy,
    good_route: _Upstream,
) -> None:
    entry = youtube_in_process.catalog["videos"][STANDARD_VIDEO_ID]
    youtube_in_process.set_entry(
        VIDEO_ID, {**entry, "id": VIDEO_ID, "watch_page": youtube_in_process.watch_page_url()}
    )
    key = make_key()
    url = youtube_in_process.video_url(VIDEO_ID)

    refused = await client.get("/api/v1/info", params={"url": url}, headers={"X-API-Key": key})
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "throttled"
    assert "yds doctor" in error["message"] and "--cookies" not in error["message"]
    assert any("/watch-page/" in line for line in blocked.lines)

    asked_before = len(blocked.lines)
    found = await client.get("/api/v1/info", params={"url": url}, headers={"X-API-Key": key})
    assert found.status_code == 200, found.text
    assert found.json()["video_id"] == VIDEO_ID
    assert len(blocked.lines) == asked_before, "the resting route was not asked"
    assert any("/watch-page/" in line for line in good_route.lines)
