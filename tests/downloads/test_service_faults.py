"""Redis, PostgreSQL and S3 go away (private instances of this test, never the shared ones):
the API keeps answering with clear errors, and every job still completes exactly once."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.auth.service import KeyLimits
from tests.support.databases import DatabaseFactory, migrate
from tests.support.factories import create_key
from tests.support.faults import failing_copy, stack_client, throttled_copy, wait_for
from tests.support.jobs import submit
from tests.support.offline_youtube import LADDER_VIDEO_ID, STANDARD_VIDEO_ID, OfflineYouTube
from tests.support.s3 import S3Server
from tests.support.services import PrivatePostgres, PrivateRedis
from tests.support.stack import running_stack, start_worker
from tests.support.tcp_forwarder import TcpForwarder

pytestmark = pytest.mark.e2e
SMALL = {"include_transcription": False, "include_thumbnail": False, "quality": "360p"}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().start()
    yield server
    server.remove()


async def test_twenty_queued_jobs_survive_a_redis_restart(
    db_factory: DatabaseFactory,
    offline_youtube: OfflineYouTube,
    private_redis: PrivateRedis,
    tmp_path: Path,
) -> None:
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_url=f"{private_redis.url}/0",
        workers=0,
        DISPATCH_GRACE_SECONDS="2",
    ) as stack:
        key = stack.key()
        async with stack_client(stack) as http:
            url = offline_youtube.video_url(LADDER_VIDEO_ID)
            ids = [(await submit(http, key, url, **SMALL))["job_id"] for _ in range(20)]
            private_redis.stop()  # every queued message is gone with it
            private_redis.start()
            await asyncio.sleep(2.5)  # past the dispatch grace of the reconciler
            stack.workers.append(start_worker(stack.env, stack.log_dir, beat=True))
            for job_id in ids:
                done = await wait_for(http, key, job_id, lambda j: j["status"] == "completed")
                assert done["attempts"] == 1


async def test_postgres_down_for_ten_seconds_under_load(
    offline_youtube: OfflineYouTube, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    database_url = private_postgres.dsn.replace("postgresql://", "postgresql+asyncpg://")
    migrate(database_url)
    with running_stack(
        database_url=database_url,
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_db=9,
        beat=True,
        JOB_LEASE_SECONDS="10",
        RECONCILE_INTERVAL_SECONDS="2",
    ) as stack:
        key = create_key(
            stack.database_url, limits=KeyLimits(max_active_jobs=10_000, max_jobs_per_day=10_000)
        ).secret
        # In flight when the database goes: a download of a few seconds.
        slow = throttled_copy(offline_youtube, "pgOutage001", 1024 * 1024)
        url = offline_youtube.video_url(LADDER_VIDEO_ID)
        statuses: collections.Counter[int] = collections.Counter()
        accepted: list[str] = []
        async with stack_client(stack) as http:
            before = [(await submit(http, key, slow, **SMALL))["job_id"] for _ in range(2)]

            async def load(seconds: float) -> None:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    for response in await asyncio.gather(
                        http.get("/api/v1/downloads", headers={"X-API-Key": key}),
                        http.post("/api/v1/downloads", json={"url": url, **SMALL},
                                  headers={"X-API-Key": key}),
                    ):  # fmt: skip
                        statuses[response.status_code] += 1
                        if response.status_code == 503:
                            assert response.json()["error"]["code"] == "database_unavailable"
                        if response.status_code == 202:
                            accepted.append(response.json()["job_id"])
                    await asyncio.sleep(0.1)

            private_postgres.stop()
            outage = time.monotonic()
            await load(10)
            private_postgres.start()
            assert time.monotonic() - outage >= 10
            await load(2)
            after = [(await submit(http, key, url, **SMALL))["job_id"] for _ in range(2)]
            for job_id in before + accepted + after:
                await wait_for(http, key, job_id, lambda j: j["status"] == "completed", within=180)

        assert statuses[500] == 0, statuses
        assert statuses[503] > 0, "the outage was seen"
        assert statuses[200] > 0 and statuses[202] > 0, "it recovered by itself"


async def test_s3_gone_during_an_upload_is_retried_and_leaves_no_orphans(
    db_factory: DatabaseFactory,
    offline_youtube: OfflineYouTube,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    bucket = s3_server.new_bucket()
    port = int(s3_server.endpoint.rsplit(":", 1)[1])
    s3_link = TcpForwarder(("127.0.0.1", port), rate=512 * 1024).start()  # uploads take seconds
    settings = {**s3_server.settings_env(bucket), "S3_ENDPOINT_URL": s3_link.url}
    try:
        with running_stack(
            database_url=db_factory.sqlite(),
            youtube=offline_youtube,
            base_dir=tmp_path,
            redis_db=8,
            extra=settings,
            RETRY_BACKOFF_SECONDS="1",
            RETRY_BACKOFF_MAX_SECONDS="2",
        ) as stack:
            key = stack.key()
            url = throttled_copy(offline_youtube, "s3Outage001", 4 * 1024 * 1024)
            async with stack_client(stack) as http:
                submitted = await submit(http, key, url, include_transcription=False)
                job_id = submitted["job_id"]
                await wait_for(http, key, job_id, lambda j: j["stage"] == "uploading", poll=0.05)
                s3_link.stop()
                retrying = await wait_for(http, key, job_id, lambda j: j["status"] == "queued")
                assert retrying["error"]["code"] == "storage_unavailable"
                s3_link.start()
                done = await wait_for(http, key, job_id, lambda j: j["status"] == "completed")

            listing = s3_server.client().list_objects_v2(Bucket=bucket)
            stored = {item["Key"] for item in listing.get("Contents", [])}
            recorded = {
                f"yds/{job_id}/{f['url'].split('?')[0].rsplit('/', 1)[1]}" for f in done["files"]
            }
            assert stored == recorded, "no orphan objects"
            assert done["retries"] >= 1 and done["error"] is None
    finally:
        s3_link.stop()


async def test_a_media_server_answering_503_forever_fails_after_the_retries_with_its_cause(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    """Each retry is a run that ended in a failure it reported, not a lost worker: the job
    uses every retry (more than MAX_ATTEMPTS) and fails with the last real cause."""
    url = failing_copy(offline_youtube, "broken503v1", 503)
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_db=12,
        MAX_ATTEMPTS="3",
        MAX_RETRIES="4",
        RETRY_BACKOFF_SECONDS="1",
        RETRY_BACKOFF_MAX_SECONDS="2",
    ) as stack:
        key = stack.key()
        async with stack_client(stack) as http:
            submitted = await submit(http, key, url, **SMALL)
            backing_off = await wait_for(
                http,
                key,
                submitted["job_id"],
                lambda j: j["status"] == "queued" and j["retries"] >= 1,
                poll=0.05,
            )
            assert backing_off["waiting_reason"] == "retry_backoff", backing_off
            assert backing_off["retry_at"] is not None
            assert backing_off["error"]["code"] == "network_error"
            done = await wait_for(
                http, key, submitted["job_id"], lambda j: j["status"] == "failed", within=180
            )
        assert done["retries"] == 4, done
        assert done["waiting_reason"] is None and done["retry_at"] is None
        assert done["attempts"] == 1, "no worker was lost"
        assert done["error"]["code"] == "network_error", done["error"]
        assert "503" in done["error"]["message"]
        assert not (stack.work_dir / submitted["job_id"]).exists()


async def test_a_permanent_error_fails_once_and_throttling_opens_the_breaker(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    throttled_id = "throttled01"
    entry = {**offline_youtube.catalog["videos"][STANDARD_VIDEO_ID], "id": throttled_id}
    offline_youtube.set_entry(
        throttled_id, {**entry, "error_message": "HTTP Error 429: Too Many Requests"}
    )
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_db=7,
        RETRY_BACKOFF_SECONDS="1",
        BREAKER_COOLDOWN_SECONDS="6",
    ) as stack:
        key = stack.key()
        async with stack_client(stack) as http:
            private = await submit(http, key, offline_youtube.video_url("privateVid1"))
            failed = await wait_for(http, key, private["job_id"], lambda j: j["status"] == "failed")
            assert failed["error"]["code"] == "video_private"
            assert failed["attempts"] == 1 and failed["retries"] == 0, "never retried"

            throttled = await submit(http, key, offline_youtube.video_url(throttled_id), **SMALL)
            waiting = await wait_for(
                http,
                key,
                throttled["job_id"],
                lambda j: j["retries"] >= 1 and j["status"] == "queued",
            )
            assert waiting["error"]["code"] == "throttled"
            health = (await http.get("/health/detailed")).json()
            assert health["circuit_breakers"]["youtube"]["open"] is True
            assert 0 < health["circuit_breakers"]["youtube"]["retry_in_seconds"] <= 6
            metrics = (await http.get("/metrics")).text
            assert 'yds_circuit_breaker_open{name="youtube"} 1.0' in metrics
            assert 'yds_job_retries_total{error_code="throttled"}' in metrics

            # Other YouTube work waits for the breaker too, instead of hammering YouTube.
            # The job says so: why it waits and when it is tried again.
            paused = await submit(http, key, offline_youtube.video_url(LADDER_VIDEO_ID), **SMALL)
            waiting = await wait_for(
                http, key, paused["job_id"], lambda j: j["waiting_reason"] == "youtube_paused"
            )
            assert waiting["status"] == "queued" and waiting["error"] is None
            retry_at = dt.datetime.fromisoformat(waiting["retry_at"])
            assert (
                dt.datetime.now(dt.UTC)
                < retry_at
                < dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)
            )

            offline_youtube.update_entry(throttled_id, error_message=None)
            for job_id in (paused["job_id"], throttled["job_id"]):
                done = await wait_for(
                    http, key, job_id, lambda j: j["status"] == "completed", within=60
                )
                assert done["waiting_reason"] is None and done["retry_at"] is None
            health = (await http.get("/health/detailed")).json()
            assert health["circuit_breakers"]["youtube"]["open"] is False


async def test_two_hundred_jobs_on_two_workers_each_run_exactly_once(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    with running_stack(
        database_url=db_factory.postgres(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_db=6,
        workers=2,
        MAX_CONCURRENT_DOWNLOADS="3",
        MAX_ACTIVE_JOBS_PER_KEY="500",
    ) as stack:
        key = stack.key()
        url = offline_youtube.video_url(LADDER_VIDEO_ID)
        offline_youtube.server.reset_hits()
        async with stack_client(stack) as http:
            # Sent 16 at a time, as a busy client would: all 200 at once measured how fast one
            # loaded API process answers a burst (past the client's 30 s on a busy machine),
            # which is not what this test is about.
            sending = asyncio.Semaphore(16)

            async def send() -> dict[str, Any]:
                async with sending:
                    return await submit(http, key, url, **SMALL)

            submitted = await asyncio.gather(*(send() for _ in range(200)))
            ids = [s["job_id"] for s in submitted]
            for job_id in ids:
                done = await wait_for(
                    http, key, job_id, lambda j: j["status"] == "completed", within=300, poll=0.5
                )
                assert done["attempts"] == 1
        for fmt in ("134.mp4", "140.m4a"):
            fetched = [h for h in offline_youtube.server.hits_for(f"media/{LADDER_VIDEO_ID}/{fmt}")
                       if h.method == "GET"]  # fmt: skip
            assert len(fetched) == 200, (fmt, len(fetched))
        per_worker = [worker.log().count("completed with") for worker in stack.workers]
        assert sum(per_worker) == 200 and all(per_worker), per_worker


async def test_sigterm_on_the_api_closes_websockets_with_1001(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_db=5,
        workers=0,
    ) as stack:
        key = stack.key()
        async with stack_client(stack) as http:
            queued = await submit(http, key, offline_youtube.video_url(STANDARD_VIDEO_ID))
        uri = f"{stack.ws_url}/ws/progress/{queued['job_id']}?api_key={key}"
        async with connect(uri) as socket:
            assert "snapshot" in await socket.recv()
            stack.api.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        stack.api.proc.wait(timeout=20)
        # uvicorn re-raises the signal once its graceful shutdown is done.
        assert stack.api.proc.returncode in (0, -signal.SIGTERM)
        async with stack_client(stack) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get("/health")
