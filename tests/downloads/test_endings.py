"""Every way a job can end goes through one function, and everything that follows an ending
happens exactly once: the metrics, the status event, the webhook, the parent's settle, the
library entry and the removal of the work directory. Observed from the outside (Redis
channels and counters, the broker's queue, the database, the disk) on both databases, with
the real worker pipeline, reconciler and housekeeping in this process and the API in-process.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import families, pipeline, reconciler, retention
from app.jobs.models import Job, JobFile, JobStatus
from app.library.models import LibraryEntry
from app.storage.local import LocalStorageHandler
from app.worker.context import WorkerContext
from tests.support.effects import EffectsProbe
from tests.support.factories import KeyFactory, create_job
from tests.support.offline_youtube import PRIVATE_VIDEO_ID, STANDARD_VIDEO_ID, OfflineYouTube

HOOK = "https://hooks.example.com/yds"
COMPLETED = "yds_jobs_completed{}"
CANCELED = "yds_jobs_canceled{}"


def failed(code: str) -> str:
    return f'yds_jobs_failed{{"error_code":"{code}"}}'


def duration(status: str) -> str:
    return f'yds_job_duration_seconds{{"status":"{status}"}}'


class Enqueued(list[uuid.UUID]):
    def __init__(self) -> None:
        super().__init__()
        self.priorities: dict[uuid.UUID, str] = {}  # the priority each job was last sent with

    def __call__(self, job_id: uuid.UUID, countdown: float, priority: str = "normal") -> None:
        self.append(job_id)
        self.priorities[job_id] = priority


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    # The offline site is on 127.0.0.1: allowed here, refused by default (tests/security).
    return settings.model_copy(
        update={"allow_private_networks": True, "subtitle_sleep_seconds": 0.0}
    )


@pytest.fixture
def ctx(worker_settings: Settings, tmp_path: Path) -> Iterator[WorkerContext]:
    context = WorkerContext(
        settings=worker_settings,
        sessions=sync_sessionmaker(create_sync_engine(worker_settings.database_url)),
        redis=redis.Redis.from_url(worker_settings.redis_url),
        storage=LocalStorageHandler(tmp_path / "store"),
        enqueue=Enqueued(),
    )
    yield context
    context.dispose()


@pytest.fixture
def probe(settings: Settings) -> Iterator[EffectsProbe]:
    watching = EffectsProbe(settings.redis_url)
    yield watching
    watching.close()


def add_job(ctx: WorkerContext, url: str, **fields: Any) -> uuid.UUID:
    """A job of these tests: no thumbnail, and a webhook to announce its end to."""
    options = {"include_thumbnail": False}
    return create_job(ctx.sessions, url=url, options=options, webhook_url=HOOK, **fields)


def row(ctx: WorkerContext, job_id: uuid.UUID) -> Job:
    with session_scope(ctx.sessions) as session:
        return session.scalars(select(Job).where(Job.id == job_id)).one()


def count(ctx: WorkerContext, model: type[JobFile] | type[LibraryEntry], job_id: uuid.UUID) -> int:
    with session_scope(ctx.sessions) as session:
        return session.scalar(select(func.count()).where(model.job_id == job_id)) or 0


def test_a_completed_download_ends_once(
    ctx: WorkerContext, probe: EffectsProbe, youtube_in_process: OfflineYouTube
) -> None:
    job_id = add_job(ctx, youtube_in_process.video_url(STANDARD_VIDEO_ID))
    pipeline.run_job(ctx, job_id)
    pipeline.run_job(ctx, job_id)  # a redelivered message finds the job ended

    seen = probe.observe()
    assert seen.endings(job_id) == [JobStatus.COMPLETED]
    assert seen.metrics[COMPLETED] == 1 and seen.metrics[duration("completed")] == 1
    assert seen.webhooks[job_id] == 1
    assert count(ctx, LibraryEntry, job_id) == 1 and count(ctx, JobFile, job_id) >= 2
    assert not (ctx.settings.work_dir / str(job_id)).exists()
    final = [e for e in seen.events if e.job_id == job_id][-1]
    assert final.progress == 100.0 and final.downloaded_bytes == row(ctx, job_id).total_bytes


def test_a_failed_download_ends_once(
    ctx: WorkerContext, probe: EffectsProbe, youtube_in_process: OfflineYouTube
) -> None:
    job_id = add_job(ctx, youtube_in_process.video_url(PRIVATE_VIDEO_ID))
    pipeline.run_job(ctx, job_id)

    seen = probe.observe()
    assert seen.endings(job_id) == [JobStatus.FAILED]
    assert seen.metrics[failed("video_private")] == 1
    assert seen.webhooks[job_id] == 1
    assert count(ctx, LibraryEntry, job_id) == 0
    assert not (ctx.settings.work_dir / str(job_id)).exists()


def test_a_job_out_of_attempts_fails_as_worker_lost_once(
    ctx: WorkerContext, probe: EffectsProbe
) -> None:
    job_id = add_job(ctx, "https://youtu.be/aqz-KE-bpKQ", attempts=ctx.settings.max_attempts)
    leftover = ctx.settings.work_dir / str(job_id)
    leftover.mkdir(parents=True)
    pipeline.run_job(ctx, job_id)

    seen = probe.observe()
    assert seen.endings(job_id) == [JobStatus.FAILED]
    assert seen.metrics[failed("worker_lost")] == 1
    assert seen.webhooks[job_id] == 1
    assert row(ctx, job_id).error_code == "worker_lost"
    assert not leftover.exists()


def test_the_reconciler_ends_abandoned_jobs_once(ctx: WorkerContext, probe: EffectsProbe) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    abandoned = {"status": JobStatus.PROCESSING, "heartbeat_at": long_ago}
    lost = add_job(ctx, "https://youtu.be/x", attempts=ctx.settings.max_attempts, **abandoned)
    canceled = add_job(ctx, "https://youtu.be/y", attempts=1, cancel_requested=True, **abandoned)
    leftovers = [ctx.settings.work_dir / str(job_id) for job_id in (lost, canceled)]
    for leftover in leftovers:
        (leftover / "video.mp4.part").parent.mkdir(parents=True)
        (leftover / "video.mp4.part").write_bytes(b"partial")
    reconciler.reconcile(ctx, queued_in_broker=None)
    reconciler.reconcile(ctx, queued_in_broker=None)

    seen = probe.observe()
    assert seen.endings(lost) == [JobStatus.FAILED]
    assert seen.endings(canceled) == [JobStatus.CANCELED]
    assert seen.metrics[failed("worker_lost")] == 1 and seen.metrics[CANCELED] == 1
    assert seen.webhooks[lost] == 1 and seen.webhooks[canceled] == 1
    assert not any(leftover.exists() for leftover in leftovers), "partial downloads removed"


async def test_a_cancel_through_the_api_ends_a_queued_job_once(
    client: httpx.AsyncClient, make_key: KeyFactory, probe: EffectsProbe
) -> None:
    headers = {"X-API-Key": make_key()}
    body = {"url": "https://youtu.be/aqz-KE-bpKQ", "webhook_url": HOOK}
    created = await client.post("/api/v1/downloads", json=body, headers=headers)
    job_id = uuid.UUID(created.json()["job_id"])
    canceled = await client.delete(f"/api/v1/downloads/{job_id}", headers=headers)
    assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"

    seen = probe.observe()
    assert seen.endings(job_id) == [JobStatus.CANCELED]
    assert seen.metrics[CANCELED] == 1 and duration("canceled") not in seen.metrics
    assert seen.webhooks[job_id] == 1


def test_an_expired_job_leaves_the_library_and_announces_nothing(
    ctx: WorkerContext, probe: EffectsProbe, youtube_in_process: OfflineYouTube
) -> None:
    job_id = add_job(ctx, youtube_in_process.video_url(STANDARD_VIDEO_ID))
    pipeline.run_job(ctx, job_id)
    before = probe.observe()
    with session_scope(ctx.sessions) as session:
        session.get_one(Job, job_id).completed_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    settings = ctx.settings.model_copy(update={"file_retention_hours": 24})
    expiring = WorkerContext(settings, ctx.sessions, ctx.redis, ctx.storage, ctx.enqueue)
    assert retention.expire_old_files(expiring) == 1
    assert retention.expire_old_files(expiring) == 0

    after = probe.observe()  # events since `before`; metrics and webhooks since the start
    assert after.events == [] and after.metrics == before.metrics
    assert after.webhooks == before.webhooks
    assert row(ctx, job_id).status is JobStatus.EXPIRED
    assert count(ctx, LibraryEntry, job_id) == 0 and count(ctx, JobFile, job_id) == 0


async def test_a_batch_and_each_of_its_entries_end_once(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    probe: EffectsProbe,
    youtube_in_process: OfflineYouTube,
) -> None:
    headers = {"X-API-Key": make_key()}
    urls = [youtube_in_process.video_url(STANDARD_VIDEO_ID)] * 2
    body = {"urls": urls, "concurrency": 1, "include_thumbnail": False, "webhook_url": HOOK}
    created = await client.post("/api/v1/batches", json=body, headers=headers)
    batch_id = uuid.UUID(created.json()["batch_id"])
    entries = [uuid.UUID(item["job_id"]) for item in created.json()["accepted"]]

    # The worker's side, as the broker would drive it: settle, then each dispatched entry.
    families.settle_parent(ctx, batch_id)
    enqueued: Enqueued = ctx.enqueue  # type: ignore[assignment]
    for entry in enqueued:  # grows as each ending settles the batch again
        pipeline.run_job(ctx, entry)

    seen = probe.observe()
    assert enqueued == entries, "one at a time, in order, each once"
    assert seen.endings(batch_id) == [JobStatus.COMPLETED]
    assert all(seen.endings(entry) == [JobStatus.COMPLETED] for entry in entries)
    assert seen.metrics[COMPLETED] == 3
    assert seen.webhooks == {batch_id: 1}, "entries have no webhook of their own"
    assert row(ctx, batch_id).progress == 100.0


async def test_canceling_a_batch_ends_it_and_each_queued_entry_once(
    client: httpx.AsyncClient, make_key: KeyFactory, ctx: WorkerContext, probe: EffectsProbe
) -> None:
    headers = {"X-API-Key": make_key()}
    urls = [f"https://youtu.be/{n:011d}" for n in range(3)]
    body = {"urls": urls, "concurrency": 1, "webhook_url": HOOK}
    created = await client.post("/api/v1/batches", json=body, headers=headers)
    batch_id = uuid.UUID(created.json()["batch_id"])
    entries = [uuid.UUID(item["job_id"]) for item in created.json()["accepted"]]
    families.settle_parent(ctx, batch_id)  # the first entry is dispatched, not yet running

    canceled = await client.delete(f"/api/v1/downloads/{batch_id}", headers=headers)
    assert canceled.json()["status"] == "canceled"
    families.settle_parent(ctx, batch_id)  # a late settle finds nothing left to do

    seen = probe.observe()
    assert seen.endings(batch_id) == [JobStatus.CANCELED]
    assert all(seen.endings(entry) == [JobStatus.CANCELED] for entry in entries)
    assert seen.metrics[CANCELED] == 4
    assert seen.webhooks == {batch_id: 1}
