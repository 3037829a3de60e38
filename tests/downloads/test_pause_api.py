"""Pausing and resuming through the API in-process, on SQLite and on PostgreSQL: the status
codes and error codes, the key's ownership, the quota paused jobs count toward, a cancel of
a paused job, and the sweep of jobs paused past PAUSED_RETENTION_HOURS. No worker runs: a
queued job pauses at once, a running one (as a worker left it) gets the request."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import retention
from app.jobs.models import Job, JobStage, JobStatus
from app.storage.local import LocalStorageHandler
from app.worker.context import WorkerContext
from tests.support.factories import KeyFactory, create_job, set_job_row

WATCH = "https://www.youtube.com/watch?v={}"
DOWNLOADS = "/api/v1/downloads"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=os.environ["REDIS_URL"],
        download_base_path=tmp_path / "downloads",
        work_dir=tmp_path / "work",
        max_active_jobs_per_key=3,
    )


async def submit(client: httpx.AsyncClient, key: str, video: str) -> str:
    response = await client.post(
        DOWNLOADS, json={"url": WATCH.format(video)}, headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def act(client: httpx.AsyncClient, key: str, job_id: str, action: str) -> httpx.Response:
    return await client.post(f"{DOWNLOADS}/{job_id}/{action}", headers={"X-API-Key": key})


async def test_a_queued_job_pauses_and_resumes_and_wrong_states_get_409(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    job_id = await submit(client, key, "pauseQueue1")

    paused = await act(client, key, job_id, "pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["paused_at"] is not None
    again = await act(client, key, job_id, "pause")
    assert again.status_code == 200 and again.json()["status"] == "paused"
    listed = await client.get(DOWNLOADS, params={"status": "paused"}, headers={"X-API-Key": key})
    assert [job["job_id"] for job in listed.json()["items"]] == [job_id]

    resumed = await act(client, key, job_id, "resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "queued"
    assert resumed.json()["paused_at"] is None
    not_paused = await act(client, key, job_id, "resume")
    assert not_paused.status_code == 409
    assert not_paused.json()["error"]["code"] == "job_not_paused"

    set_job_row(database_url, job_id, status=JobStatus.COMPLETED)
    finished = await act(client, key, job_id, "pause")
    assert finished.status_code == 409
    assert finished.json()["error"]["code"] == "job_not_pausable"


async def test_only_the_jobs_own_key_pauses_or_resumes_it(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key, other = make_key("mine"), make_key("theirs")
    job_id = await submit(client, key, "pauseOwner1")
    for action in ("pause", "resume"):
        response = await act(client, other, job_id, action)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "job_not_found"
    assert (await act(client, key, job_id, "pause")).json()["status"] == "paused"
    assert (await act(client, other, job_id, "resume")).status_code == 404
    read_only = make_key("reader", ["downloads:read"])
    assert (await act(client, read_only, job_id, "resume")).status_code in (403, 404)


async def test_a_running_job_is_asked_to_pause_and_the_request_can_be_withdrawn(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    job_id = await submit(client, key, "pauseRunng1")
    now = dt.datetime.now(dt.UTC)
    set_job_row(
        database_url, job_id, status=JobStatus.PROCESSING, worker_id="w:1", heartbeat_at=now
    )

    asked = await act(client, key, job_id, "pause")
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert (body["status"], body["pause_requested"]) == ("processing", True)

    withdrawn = await act(client, key, job_id, "resume")
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["status"], withdrawn.json()["pause_requested"]) == (
        "processing",
        False,
    )


@pytest.mark.parametrize(
    ("stage", "says"),
    [
        pytest.param(JobStage.UPLOADING, "files are being stored", id="storing"),
        pytest.param(JobStage.TRANSCRIBING, "speech recognition", id="transcribing"),
    ],
)
async def test_a_job_past_its_download_is_not_paused_and_says_why(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    database_url: str,
    stage: JobStage,
    says: str,
) -> None:
    key = make_key()
    job_id = await submit(client, key, f"pauseLate{stage.value[:2]}")
    now = dt.datetime.now(dt.UTC)
    set_job_row(
        database_url,
        job_id,
        status=JobStatus.PROCESSING,
        stage=stage,
        worker_id="w:1",
        heartbeat_at=now,
    )

    refused = await act(client, key, job_id, "pause")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "job_not_pausable" and says in error["message"]
    job = (await client.get(f"{DOWNLOADS}/{job_id}", headers={"X-API-Key": key})).json()
    assert (job["status"], job["pause_requested"]) == ("processing", False)


async def test_paused_jobs_count_toward_the_active_quota(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    jobs = [await submit(client, key, f"pauseQuota{n}") for n in range(3)]
    for job_id in jobs:
        assert (await act(client, key, job_id, "pause")).json()["status"] == "paused"
    refused = await client.post(
        DOWNLOADS, json={"url": WATCH.format("pauseQuota9")}, headers={"X-API-Key": key}
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "quota_exceeded"

    canceled = await client.delete(f"{DOWNLOADS}/{jobs[0]}", headers={"X-API-Key": key})
    assert canceled.status_code == 202, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert (await submit(client, key, "pauseQuota8")) is not None


def worker_context(settings: Settings, storage_root: Path) -> WorkerContext:
    return WorkerContext(
        settings=settings,
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url),
        storage=LocalStorageHandler(storage_root),
    )


async def test_jobs_paused_past_the_retention_fail_and_lose_their_partial_files(
    client: httpx.AsyncClient, make_key: KeyFactory, settings: Settings, tmp_path: Path
) -> None:
    key = make_key()
    old, recent = await submit(client, key, "pauseOld001"), await submit(client, key, "pauseNew001")
    for job_id in (old, recent):
        assert (await act(client, key, job_id, "pause")).json()["status"] == "paused"
        part = settings.work_dir / job_id / "video.f134.mp4.part"
        part.parent.mkdir(parents=True)
        part.write_bytes(b"partial")
    set_job_row(
        settings.database_url,
        old,
        paused_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=73),
    )
    ctx = worker_context(settings.model_copy(update={"paused_retention_hours": 72}), tmp_path)
    try:
        # The leftover sweep keeps a paused job's work directory, however old it looks.
        for job_id in (old, recent):
            os.utime(settings.work_dir / job_id / "video.f134.mp4.part", (0, 0))
            os.utime(settings.work_dir / job_id, (0, 0))
        assert retention.sweep_work_dir(ctx) == 0
        assert retention.expire_paused(ctx) == 1
    finally:
        ctx.dispose()

    expired = (await client.get(f"{DOWNLOADS}/{old}", headers={"X-API-Key": key})).json()
    assert expired["status"] == "failed"
    assert expired["error"]["code"] == "paused_expired"
    assert "PAUSED_RETENTION_HOURS" in expired["error"]["message"]
    failures = (await client.get(f"{DOWNLOADS}/failures", headers={"X-API-Key": key})).json()
    [group] = failures["groups"]
    assert group["code"] == "paused_expired" and group["count"] == 1
    assert "PAUSED_RETENTION_HOURS" in group["hint"]
    assert not (settings.work_dir / old).exists()
    kept = (await client.get(f"{DOWNLOADS}/{recent}", headers={"X-API-Key": key})).json()
    assert kept["status"] == "paused"
    assert (settings.work_dir / recent / "video.f134.mp4.part").read_bytes() == b"partial"
    # A failed-by-expiry job is retried like any failure.
    retried = await client.post(f"{DOWNLOADS}/{old}/retry", headers={"X-API-Key": key})
    assert retried.status_code == 202 and retried.json()["status"] == "queued"


async def test_a_paused_playlist_past_the_retention_ends_as_its_entries_say(
    client: httpx.AsyncClient, make_key: KeyFactory, settings: Settings, tmp_path: Path
) -> None:
    key = make_key()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=80)
    ctx = worker_context(settings.model_copy(update={"paused_retention_hours": 72}), tmp_path)
    try:
        parent = await submit_playlist(client, key)
        set_job_row(settings.database_url, parent, status=JobStatus.PAUSED, paused_at=old)
        with session_scope(ctx.sessions) as session:
            key_id = session.scalar(select(Job.api_key_id).where(Job.id == uuid.UUID(parent)))
        done = create_job(ctx.sessions, api_key_id=key_id, parent_id=uuid.UUID(parent),
                          position=1, status=JobStatus.COMPLETED)  # fmt: skip
        entry = create_job(ctx.sessions, api_key_id=key_id, parent_id=uuid.UUID(parent),
                           position=2, status=JobStatus.PAUSED, paused_at=old)  # fmt: skip

        assert retention.expire_paused(ctx) == 2
    finally:
        ctx.dispose()

    def status(job_id: str) -> str:
        engine = create_sync_engine(settings.database_url)
        try:
            with session_scope(sync_sessionmaker(engine)) as session:
                job = session.get(Job, uuid.UUID(job_id))
                assert job is not None
                return f"{job.status}:{job.error_code}"
        finally:
            engine.dispose()

    assert status(str(entry)) == "failed:paused_expired"
    assert status(str(done)) == "completed:None"
    assert status(parent) == "completed:None", "its completed entry makes it completed"


async def submit_playlist(client: httpx.AsyncClient, key: str) -> str:
    response = await client.post(
        DOWNLOADS,
        json={"url": "https://www.youtube.com/playlist?list=PLpausedRetention000000001"},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id
