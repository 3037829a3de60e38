"""Housekeeping: file retention, leftover work directories, and the low-disk guard."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import retention
from app.jobs.models import FileKind, Job, JobFile, JobStatus
from app.storage.base import StorageHandler
from app.storage.local import LocalStorageHandler
from app.storage.s3 import S3StorageHandler
from app.worker.context import WorkerContext
from tests.support.factories import KeyFactory, create_job
from tests.support.s3 import S3Server

DAY = 24 * 3600


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server) -> StorageHandler:
    if request.param == "local":
        return LocalStorageHandler(tmp_path / "store")
    settings = Settings(
        _env_file=None,
        storage_backend="s3",
        s3_bucket_name=s3_server.new_bucket(),
        s3_endpoint_url=s3_server.endpoint,
    )
    return S3StorageHandler(settings)


def context(settings: Settings, storage: StorageHandler) -> WorkerContext:
    return WorkerContext(
        settings=settings,
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url),
        storage=storage,
    )


def completed_job(ctx: WorkerContext, tmp_path: Path, *, finished: dt.datetime) -> uuid.UUID:
    """A completed job with one stored video file."""
    job_id = create_job(ctx.sessions, status=JobStatus.COMPLETED, completed_at=finished)
    source = tmp_path / f"{job_id}.mp4"
    source.write_bytes(b"video bytes")
    stored = ctx.storage.store(source, f"{job_id}/abc.mp4")
    with session_scope(ctx.sessions) as session:
        session.add(JobFile(job_id=job_id, kind=FileKind.VIDEO, format="mp4", size=stored.size,
                            sha256=stored.sha256, storage_key=stored.key))  # fmt: skip
    return job_id


def state(ctx: WorkerContext, job_id: uuid.UUID) -> tuple[JobStatus, int]:
    with session_scope(ctx.sessions) as session:
        job = session.scalar(select(Job).where(Job.id == job_id))
        assert job is not None
        return job.status, len(job.files)


def test_retention_deletes_expired_files_and_keeps_the_others(
    settings: Settings, storage: StorageHandler, tmp_path: Path
) -> None:
    ctx = context(settings.model_copy(update={"file_retention_hours": 24}), storage)
    now = dt.datetime.now(dt.UTC)
    old = completed_job(ctx, tmp_path, finished=now - dt.timedelta(hours=25))
    recent = completed_job(ctx, tmp_path, finished=now - dt.timedelta(hours=23))

    assert retention.expire_old_files(ctx) == 1

    assert state(ctx, old) == (JobStatus.EXPIRED, 0)
    assert state(ctx, recent) == (JobStatus.COMPLETED, 1)
    with pytest.raises(Exception):  # noqa: B017 - FileNotFoundError locally, NoSuchKey on S3
        storage.read(f"{old}/abc.mp4")
    assert storage.read(f"{recent}/abc.mp4") == b"video bytes"


def test_retention_zero_keeps_everything(
    settings: Settings, storage: StorageHandler, tmp_path: Path
) -> None:
    ctx = context(settings, storage)
    job_id = completed_job(ctx, tmp_path, finished=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    assert retention.expire_old_files(ctx) == 0
    assert state(ctx, job_id) == (JobStatus.COMPLETED, 1)


def age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(item, (stamp, stamp))


def test_sweep_removes_day_old_leftovers_but_not_live_jobs(
    settings: Settings, tmp_path: Path
) -> None:
    ctx = context(settings, LocalStorageHandler(tmp_path / "store"))
    work = settings.work_dir
    abandoned = work / str(uuid.uuid4())
    (abandoned / "captions").mkdir(parents=True)
    (abandoned / "abc.f137.mp4.part").write_bytes(b"x")
    stray = work / "abc.mp4.part"
    stray.write_bytes(b"x")
    fresh = work / str(uuid.uuid4())
    fresh.mkdir()
    (fresh / "abc.mp4.part").write_bytes(b"x")
    live_id = create_job(
        ctx.sessions, status=JobStatus.PROCESSING, heartbeat_at=dt.datetime.now(dt.UTC)
    )
    live = work / str(live_id)
    live.mkdir()
    (live / "abc.mp4.part").write_bytes(b"x")
    for old in (abandoned, stray, live):
        age(old, 2 * DAY)

    assert retention.sweep_work_dir(ctx) == 2
    assert not abandoned.exists() and not stray.exists()
    assert fresh.exists(), "touched within the day"
    assert live.exists(), "its worker still holds the lease"


async def test_new_work_is_refused_when_the_disk_is_nearly_full(
    settings: Settings, make_key: KeyFactory
) -> None:
    from app.main import create_app

    app = create_app(settings.model_copy(update={"min_free_disk_gb": 10**9}))
    body: dict[str, Any] = {"url": "https://www.youtube.com/watch?v=aqz-KE-bpKQ"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"X-API-Key": make_key()}
            response = await client.post("/api/v1/downloads", json=body, headers=headers)
            listed = await client.get("/api/v1/downloads", headers=headers)
    assert response.status_code == 507
    assert response.json()["error"]["code"] == "insufficient_storage"
    assert listed.json()["total"] == 0
