"""Redis killed under 50 open progress sockets: each is closed with 1013 and a reconnect
hint, /health/detailed says Redis is down, and once Redis is back new sockets work."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.jobs import events
from app.jobs.events import ProgressEvent
from app.jobs.models import JobStage, JobStatus
from tests.support.databases import DatabaseFactory
from tests.support.jobs import submit
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube
from tests.support.services import PrivateRedis
from tests.support.stack import running_stack
from tests.support.streams import Follower, follow

SOCKETS = 50


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


async def _redis_check(http: httpx.AsyncClient) -> tuple[int, bool]:
    response = await http.get("/health/detailed")
    return response.status_code, bool(response.json()["checks"]["redis"]["ok"])


async def test_sockets_close_with_1013_when_redis_dies_and_work_again_once_it_is_back(
    db_factory: DatabaseFactory,
    offline_youtube: OfflineYouTube,
    tmp_path: Path,
    private_redis: PrivateRedis,
) -> None:
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_url=f"{private_redis.url}/0",
        workers=0,
    ) as stack:
        key = stack.key()
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            job = await submit(http, key, offline_youtube.video_url(STANDARD_VIDEO_ID))
            url = f"{stack.ws_url}/ws/progress/{job['job_id']}"
            changed = asyncio.Condition()
            followers = [Follower() for _ in range(SOCKETS)]
            tasks = [asyncio.create_task(follow(url, key, f, changed=changed)) for f in followers]
            async with asyncio.timeout(60), changed:
                await changed.wait_for(lambda: all(f.messages for f in followers))

            private_redis.stop()
            await asyncio.gather(*tasks)
            for follower in followers:
                assert follower.close_code == 1013, (follower.close_code, follower.close_reason)
                assert "reconnect in 5 s with ?after=" in follower.close_reason
            assert await _redis_check(http) == (503, False), "health says Redis is down"
            async with connect(url, additional_headers={"X-API-Key": key}) as socket:
                snapshot = json.loads(await socket.recv())
                with pytest.raises(ConnectionClosed) as closed:
                    await socket.recv()
            assert snapshot["type"] == "snapshot" and snapshot["seq"] is None
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

            private_redis.start()
            await _until_a_socket_streams(url, key, f"{private_redis.url}/0")
            _, redis_ok = await _redis_check(http)
            assert redis_ok, "health sees Redis again"
        log = stack.api.log()
        assert "Traceback" not in log and "MaxConnectionsError" not in log


async def _until_a_socket_streams(url: str, key: str, redis_url: str) -> None:
    """Open sockets until one gets live events again (the API resubscribes within 5 s)."""
    async with asyncio.timeout(30):
        while True:
            async with connect(url, additional_headers={"X-API-Key": key}) as socket:
                snapshot = json.loads(await socket.recv())
                if snapshot["seq"] is None:
                    continue  # still resubscribing: this one is told to come back (1013)
                with redis.Redis.from_url(redis_url) as client:
                    _publish_completed(client, snapshot["job"]["job_id"])
                event = json.loads(await socket.recv())
                assert event["status"] == "completed" and event["seq"] == snapshot["seq"] + 1
                with pytest.raises(ConnectionClosed) as closed:
                    await socket.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
                return


def _publish_completed(client: redis.Redis, job_id: str) -> None:
    event = ProgressEvent(
        type="status",
        job_id=uuid.UUID(job_id),
        status=JobStatus.COMPLETED,
        stage=JobStage.DOWNLOADING,
        progress=100,
        at=dt.datetime.now(dt.UTC),
    )
    events.publish(client, event)
