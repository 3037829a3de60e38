"""YTDLP_PROXIES end to end, with a real API and worker: a route that YouTube answers with
its bot check (or HTTP 429) rests while the job, and the jobs after it, go through the next
route; new YouTube work pauses only when every route rests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.core.config import Settings
from app.youtube import routes
from tests.security.test_egress_upstream import _Upstream
from tests.support.blocking_proxy import BlockingProxy
from tests.support.databases import DatabaseFactory
from tests.support.faults import stack_client, wait_for
from tests.support.jobs import submit
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e
SMALL = {"include_transcription": False, "include_thumbnail": False, "quality": "360p"}


@pytest.fixture
def good_route() -> Iterator[_Upstream]:
    proxy = _Upstream(authorization=None)
    yield proxy
    proxy.close()


def _video_behind_its_watch_page(youtube: OfflineYouTube, video_id: str) -> str:
    """A copy of the standard video whose extraction first fetches its watch page through
    the job's route, as YouTube's extractor does."""
    entry = youtube.catalog["videos"][STANDARD_VIDEO_ID]
    youtube.set_entry(video_id, {**entry, "id": video_id, "watch_page": youtube.watch_page_url()})
    return youtube.video_url(video_id)


async def test_a_bot_check_rests_one_route_and_the_job_goes_through_the_next(
    db_factory: DatabaseFactory,
    offline_youtube: OfflineYouTube,
    good_route: _Upstream,
    tmp_path: Path,
) -> None:
    url = _video_behind_its_watch_page(offline_youtube, "routeVideo1")
    good = good_route.url(credentials=None)
    with (
        BlockingProxy() as blocked,
        running_stack(
            database_url=db_factory.sqlite(),
            youtube=offline_youtube,
            base_dir=tmp_path,
            redis_db=12,
            YTDLP_PROXIES=f"{blocked.url},{good}",
            BREAKER_COOLDOWN_SECONDS="600",
        ) as stack,
    ):
        key = stack.key()
        async with stack_client(stack) as http:
            first = await submit(http, key, url, **SMALL)
            done = await wait_for(
                http, key, first["job_id"], lambda j: j["status"] == "completed", within=120
            )
            assert done["retries"] == 1, "one retry, through the next route"
            assert any("/watch-page/" in line for line in blocked.lines)
            assert any(f"/media/{STANDARD_VIDEO_ID}/" in line for line in good_route.lines)

            breakers = (await http.get("/health/detailed")).json()["circuit_breakers"]
            assert breakers[f"route:{blocked.url}"]["open"] is True
            assert 0 < breakers[f"route:{blocked.url}"]["retry_in_seconds"] <= 600
            assert breakers[f"route:{good}"]["open"] is False
            assert breakers["youtube"]["open"] is False, "one route still carries YouTube work"
            with redis.Redis.from_url(stack.env["REDIS_URL"]) as client:
                settings = Settings(_env_file=None, ytdlp_proxies=f"{blocked.url},{good}")
                resting = routes.route_states(client, settings)[0]
            assert resting.reason == "YouTube asked to confirm this is not a bot"
            metrics = (await http.get("/metrics")).text
            assert f'yds_circuit_breaker_open{{name="route:{blocked.url}"}} 1.0' in metrics
            assert 'yds_circuit_breaker_open{name="youtube"} 0.0' in metrics

            # While the blocked route rests, later jobs go straight through the good one.
            asked_before = len(blocked.lines)
            second = await submit(http, key, url, **{**SMALL, "quality": "worst"})
            done = await wait_for(
                http, key, second["job_id"], lambda j: j["status"] == "completed", within=120
            )
            assert done["retries"] == 0 and done["waiting_reason"] is None
            assert len(blocked.lines) == asked_before, "the resting route was not asked"


async def test_when_every_route_rests_youtube_work_waits_for_the_first_to_wake(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    url = _video_behind_its_watch_page(offline_youtube, "routeVideo2")
    with (
        BlockingProxy(status=200) as bot_checked,
        BlockingProxy(status=429) as throttled,
        running_stack(
            database_url=db_factory.sqlite(),
            youtube=offline_youtube,
            base_dir=tmp_path,
            redis_db=13,
            YTDLP_PROXIES=f"{bot_checked.url},{throttled.url}",
            BREAKER_COOLDOWN_SECONDS="30",
            RETRY_BACKOFF_SECONDS="1",
        ) as stack,
    ):
        key = stack.key()
        async with stack_client(stack) as http:
            job = await submit(http, key, url, **SMALL)
            waiting = await wait_for(
                http, key, job["job_id"], lambda j: j["retries"] >= 2 and j["status"] == "queued"
            )
            assert bot_checked.lines and throttled.lines, "each route was tried once"
            assert waiting["error"]["code"] == "throttled"
            message = waiting["error"]["message"]
            assert "HTTP 429" in message and "YTDLP_PROXIES" in message and "yds doctor" in message
            assert "--" not in message, "no yt-dlp command-line flag"
            retry_at = dt.datetime.fromisoformat(waiting["retry_at"])
            assert retry_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=15), "not 1 s"

            breakers = (await http.get("/health/detailed")).json()["circuit_breakers"]
            assert breakers["youtube"]["open"] is True
            assert 0 < breakers["youtube"]["retry_in_seconds"] <= 30
            assert breakers[f"route:{bot_checked.url}"]["open"] is True
            assert breakers[f"route:{throttled.url}"]["open"] is True

            paused = await submit(http, key, url, **{**SMALL, "quality": "worst"})
            waiting = await wait_for(
                http, key, paused["job_id"], lambda j: j["waiting_reason"] == "youtube_paused"
            )
            assert waiting["status"] == "queued" and waiting["error"] is None
            retry_at = dt.datetime.fromisoformat(waiting["retry_at"])
            assert retry_at < dt.datetime.now(dt.UTC) + dt.timedelta(seconds=40)
