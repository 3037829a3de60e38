"""A subscription's checks in this process, on SQLite and PostgreSQL, against an offline
channel of its own whose catalog gains uploads between checks: the worker's pipeline lists
it, the check keeps only what the subscription has not seen and its filters let through,
and the children download with real yt-dlp."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import delete, func, select, update

from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import pipeline
from app.downloads.expansion import ENTRY_SELECTORS
from app.downloads.families import settle_parent
from app.jobs.models import Job, JobKind, JobStatus
from app.storage.local import LocalStorageHandler
from app.subscriptions import checks
from app.subscriptions.models import EntryStatus, Subscription, SubscriptionVideo
from app.worker.context import WorkerContext, run_db
from app.youtube import routes
from tests.support.effects import EffectsProbe
from tests.support.factories import KeyFactory
from tests.support.offline_youtube import OfflineYouTube

SUBSCRIPTIONS = "/api/v1/subscriptions"
SMALL = {"include_transcription": False, "include_thumbnail": False, "quality": "360p"}


class Enqueued(list[uuid.UUID]):
    def __call__(self, job_id: uuid.UUID, countdown: float, priority: str = "normal") -> None:
        self.append(job_id)


@pytest.fixture
def enqueued() -> Enqueued:
    return Enqueued()


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path, enqueued: Enqueued) -> Iterator[WorkerContext]:
    engine = create_sync_engine(settings.database_url)
    yield WorkerContext(
        # The offline site serves its media on loopback.
        settings=settings.model_copy(update={"allowed_private_cidrs": ("127.0.0.1/32",)}),
        sessions=sync_sessionmaker(engine),
        redis=redis.Redis.from_url(settings.redis_url),
        storage=LocalStorageHandler(tmp_path / "store"),
        enqueue=enqueued,
    )
    engine.dispose()


class Channel:
    """A channel of the test's own on the shared offline site."""

    def __init__(self, site: OfflineYouTube) -> None:
        self.site = site
        tag = uuid.uuid4().hex
        self.handle = f"@subs{tag[:10]}"
        self.url = f"https://www.youtube.com/{self.handle}"
        site.add_channel(self.handle, f"UCsubs{tag[:18]}", {})

    def upload(self, day: str, *, title: str | None = None, **fields: Any) -> str:
        video_id = f"s{uuid.uuid4().hex[:10]}"
        self.site.add_channel_video(self.handle, video_id, day)
        if title or fields:
            self.site.update_entry(video_id, **({"title": title} if title else {}), **fields)
        return video_id

    def short(self, day: str) -> str:
        video_id = self.upload(day, title=f"A short of {day} #shorts")
        channel = self.site.catalog["channels"][self.handle]
        channel["videos"].remove(video_id)
        channel.setdefault("shorts", []).insert(0, video_id)
        self.site.save_catalog()
        return video_id


@pytest.fixture
def channel(youtube_in_process: OfflineYouTube) -> Channel:
    return Channel(youtube_in_process)


def headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def subscribe(client: httpx.AsyncClient, key: str, url: str, **body: Any) -> str:
    response = await client.post(
        SUBSCRIPTIONS,
        json={"url": url, "options": SMALL, "paused": True, **body},
        headers=headers(key),
    )
    assert response.status_code == 201, response.text
    subscription_id: str = response.json()["id"]
    return subscription_id


def start(ctx: WorkerContext, subscription_id: str) -> uuid.UUID:
    started = run_db(
        ctx,
        checks.start_check,
        uuid.UUID(subscription_id),
        settings=ctx.settings,
        send=lambda job_id, priority: ctx.enqueue(job_id, 0, priority),
    )
    assert started is not None and started.started
    return started.job_id


def children(ctx: WorkerContext, check_id: uuid.UUID) -> list[Job]:
    with session_scope(ctx.sessions) as session:
        return list(
            session.scalars(select(Job).where(Job.parent_id == check_id).order_by(Job.position))
        )


def job(ctx: WorkerContext, job_id: uuid.UUID) -> Job:
    with session_scope(ctx.sessions) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def expand(ctx: WorkerContext, subscription_id: str) -> tuple[uuid.UUID, list[str]]:
    """Run one check's listing; the video ids it queued, newest first."""
    check_id = start(ctx, subscription_id)
    pipeline.run_job(ctx, check_id)
    return check_id, [child.video_id or "" for child in children(ctx, check_id)]


def run_family(ctx: WorkerContext, enqueued: Enqueued, check_id: uuid.UUID) -> Job:
    """Run every child the check's settles dispatch, until the check ends."""
    while enqueued:
        pipeline.run_job(ctx, enqueued.pop(0))
    return job(ctx, check_id)


async def state(client: httpx.AsyncClient, key: str, subscription_id: str) -> dict[str, Any]:
    response = await client.get(f"{SUBSCRIPTIONS}/{subscription_id}", headers=headers(key))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_the_first_check_takes_the_backfill_and_the_next_only_the_new_upload(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    uploads = [channel.upload(day) for day in ("20250101", "20250201", "20250301", "20250401")]
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url, backfill=2)

    first_id, queued = expand(ctx, subscription_id)
    assert queued == [uploads[3], uploads[2]]  # the two newest
    during = await state(client, key, subscription_id)
    assert during["checking"] is True
    assert during["counts"] == {"seen": 4, "downloaded": 0, "failed": 0, "pending": 2}
    ended = run_family(ctx, enqueued, first_id)
    assert (ended.kind, ended.status) == (JobKind.SUBSCRIPTION_CHECK, JobStatus.COMPLETED)
    after = await state(client, key, subscription_id)
    assert after["checking"] is False and after["last_error"] is None
    assert after["counts"] == {"seen": 4, "downloaded": 2, "failed": 0, "pending": 0}

    new = channel.upload(dt.date.today().strftime("%Y%m%d"))
    check_id, queued = expand(ctx, subscription_id)
    assert queued == [new]
    assert run_family(ctx, enqueued, check_id).status is JobStatus.COMPLETED
    assert (await state(client, key, subscription_id))["counts"]["downloaded"] == 3

    # Nothing new: the check downloads nothing and still completes. The downloads list
    # leaves it out (the two checks that found videos stay), reading it by id still works.
    empty_id, queued = expand(ctx, subscription_id)
    assert queued == []
    assert job(ctx, empty_id).status is JobStatus.COMPLETED
    assert (await state(client, key, subscription_id))["counts"]["seen"] == 5
    listed = (await client.get("/api/v1/downloads", headers=headers(key))).json()
    assert [item["job_id"] for item in listed["items"]] == [str(check_id), str(first_id)]
    assert listed["total"] == 2
    read = await client.get(f"/api/v1/downloads/{empty_id}", headers=headers(key))
    assert read.status_code == 200 and read.json()["status"] == "completed"


async def test_without_backfill_the_first_check_only_records_what_exists(
    client: httpx.AsyncClient, make_key: KeyFactory, ctx: WorkerContext, channel: Channel
) -> None:
    for day in ("20250101", "20250201"):
        channel.upload(day)
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url)
    check_id, queued = expand(ctx, subscription_id)
    assert queued == []
    assert job(ctx, check_id).status is JobStatus.COMPLETED
    body = await state(client, key, subscription_id)
    assert body["counts"] == {"seen": 2, "downloaded": 0, "failed": 0, "pending": 0}
    assert body["checking"] is False


@pytest.mark.parametrize(
    ("filters", "wanted"),
    [
        ({}, {"march", "long", "trailer"}),
        ({"include_shorts": True}, {"march", "long", "trailer", "short"}),
        ({"uploaded_after": "2025-02-15"}, {"march", "trailer", "long"}),
        ({"uploaded_after": "20250305"}, {"trailer", "long"}),
        ({"title_exclude": "trailer"}, {"march", "long"}),
        ({"title_include": r"^episode \d+"}, {"march"}),
        ({"min_duration": 60}, {"long"}),
        ({"max_duration": 60}, {"march", "trailer"}),
    ],
)
async def test_each_filter_excludes_what_it_should(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    channel: Channel,
    filters: dict[str, Any],
    wanted: set[str],
) -> None:
    ids = {
        "old": channel.upload("20250101", title="Episode 1 of the old days"),
        "march": channel.upload("20250301", title="Episode 2"),
        "trailer": channel.upload("20250310", title="The official TRAILER"),
        "long": channel.upload("20250320", title="A long talk", duration=600),
        "short": channel.short("20250315"),
    }
    key = make_key()
    filters = {"uploaded_after": "2025-02-01", **filters}
    subscription_id = await subscribe(client, key, channel.url, backfill=50, filters=filters)
    check_id, queued = expand(ctx, subscription_id)
    assert set(queued) == {ids[name] for name in wanted}
    assert job(ctx, check_id).status is JobStatus.PROCESSING  # its children to run


async def test_at_most_max_per_check_and_the_rest_at_the_next_check(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    uploads = [channel.upload(day) for day in ("20250101", "20250201", "20250301")]
    key = make_key()
    subscription_id = await subscribe(
        client, key, channel.url, backfill=3, filters={"max_per_check": 2}
    )
    check_id, queued = expand(ctx, subscription_id)
    assert queued == [uploads[2], uploads[1]]
    run_family(ctx, enqueued, check_id)
    check_id, queued = expand(ctx, subscription_id)
    assert queued == [uploads[0]]


async def test_a_failed_entry_is_tried_again_up_to_the_limit(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    broken = channel.upload("20250101")
    channel.site.update_entry(broken, error="private")
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url, backfill=1)
    for _ in range(ctx.settings.subscription_max_attempts):
        check_id, queued = expand(ctx, subscription_id)
        assert queued == [broken]
        ended = run_family(ctx, enqueued, check_id)
        assert ended.status is JobStatus.FAILED
    body = await state(client, key, subscription_id)
    assert body["counts"]["failed"] == 1
    assert body["last_error"]["code"] == "all_entries_failed"
    _, queued = expand(ctx, subscription_id)
    assert queued == []


async def test_each_new_video_announces_its_end_by_webhook_and_metrics_count(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    channel.upload("20250101")
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url, backfill=1)
    with session_scope(ctx.sessions) as session:
        owner = session.scalar(
            select(Subscription.api_key_id).where(Subscription.id == uuid.UUID(subscription_id))
        )
        session.execute(
            update(ApiKey).where(ApiKey.id == owner).values(webhook_url="https://hooks.test/x")
        )
    probe = EffectsProbe(ctx.settings.redis_url)
    try:
        check_id, _ = expand(ctx, subscription_id)
        assert run_family(ctx, enqueued, check_id).status is JobStatus.COMPLETED
        observed = probe.observe()
    finally:
        probe.close()
    (child,) = children(ctx, check_id)
    assert child.webhook_url == "https://hooks.test/x"
    assert observed.webhooks == Counter({child.id: 1})  # the check itself has none
    assert observed.metrics["yds_subscription_new_videos{}"] == 1
    assert observed.metrics['yds_subscription_checks{"status":"completed"}'] == 1


def _make_due(ctx: WorkerContext, subscription_id: str, *, paused: bool) -> None:
    with session_scope(ctx.sessions) as session:
        session.execute(
            update(Subscription)
            .where(Subscription.id == uuid.UUID(subscription_id))
            .values(paused=paused, next_check_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        )


def _check_jobs(ctx: WorkerContext, subscription_id: str) -> list[uuid.UUID]:
    with session_scope(ctx.sessions) as session:
        sub_id = uuid.UUID(subscription_id)
        return [
            job.id
            for job in session.scalars(select(Job).where(Job.kind == JobKind.SUBSCRIPTION_CHECK))
            if (job.collection or {}).get("subscription_id") == str(sub_id)
        ]


async def test_beat_starts_due_checks_but_not_paused_ones(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    key = make_key()
    paused = await subscribe(client, key, channel.url)
    active = await subscribe(client, key, channel.url)
    _make_due(ctx, paused, paused=True)
    _make_due(ctx, active, paused=False)
    assert checks.start_due_checks(ctx) == 1
    assert _check_jobs(ctx, paused) == []
    assert _check_jobs(ctx, active) == enqueued
    body = await state(client, key, active)
    assert body["checking"] is True
    next_check = dt.datetime.fromisoformat(body["next_check_at"])
    delay = next_check - dt.datetime.fromisoformat(body["last_check_at"])
    assert dt.timedelta(minutes=60) <= delay <= dt.timedelta(minutes=66)
    # Running, so not due again; and a second tick starts nothing.
    assert checks.start_due_checks(ctx) == 0


async def test_no_check_starts_while_youtube_pauses_every_route(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    channel: Channel,
) -> None:
    # A route of this test's own, so the pause touches no other test.
    proxy = f"http://127.0.0.1:9/{uuid.uuid4().hex}"
    ctx = WorkerContext(
        settings=ctx.settings.model_copy(update={"ytdlp_proxies": (SecretStr(proxy),)}),
        sessions=ctx.sessions,
        redis=ctx.redis,
        storage=ctx.storage,
        enqueue=ctx.enqueue,
    )
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url)
    _make_due(ctx, subscription_id, paused=False)
    route = routes.routes(ctx.settings)[0]
    routes.rest(ctx.redis, route, cooldown_seconds=60, reason="HTTP 429")
    try:
        assert checks.start_due_checks(ctx) == 0
        assert _check_jobs(ctx, subscription_id) == []
    finally:
        ctx.redis.delete(route.key)
    assert checks.start_due_checks(ctx) == 1


async def test_two_overlapping_triggers_run_one_check(
    client: httpx.AsyncClient, make_key: KeyFactory, ctx: WorkerContext, channel: Channel
) -> None:
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url)
    barrier = threading.Barrier(4)
    results: list[checks.CheckStart | None] = []

    def trigger() -> None:
        barrier.wait()
        results.append(
            run_db(
                ctx,
                checks.start_check,
                uuid.UUID(subscription_id),
                settings=ctx.settings,
                send=lambda job_id: None,
            )
        )

    threads = [threading.Thread(target=trigger) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(result is not None for result in results)
    assert sum(result.started for result in results if result) == 1
    assert len({result.job_id for result in results if result}) == 1
    assert len(_check_jobs(ctx, subscription_id)) == 1

    # The API's "check now" meanwhile answers with the running check.
    now = await client.post(f"{SUBSCRIPTIONS}/{subscription_id}/check", headers=headers(key))
    assert now.status_code == 202
    assert now.json() == {"job_id": str(results[0].job_id if results[0] else ""), "started": False}


async def test_the_archive_outlives_the_downloads(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    uploaded = channel.upload("20250101")
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url, backfill=1)
    check_id, _ = expand(ctx, subscription_id)
    run_family(ctx, enqueued, check_id)
    deleted = await client.delete(f"/api/v1/downloads/{check_id}", headers=headers(key))
    assert deleted.status_code == 204
    with session_scope(ctx.sessions) as session:
        entry = session.scalar(
            select(SubscriptionVideo).where(SubscriptionVideo.video_id == uploaded)
        )
        assert entry is not None and entry.status is EntryStatus.DOWNLOADED
    _, queued = expand(ctx, subscription_id)
    assert queued == []


async def test_a_subscription_deleted_during_its_listing_ends_its_check_cleanly(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The user removes the subscription while its check lists the channel: the listing's
    new video still downloads as the key's job, the check completes, nothing is left of
    the subscription."""
    uploaded = channel.upload("20250101")
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url, backfill=1)

    def select_then_delete(*args: Any) -> Any:
        selection = checks.select_new(*args)
        with session_scope(ctx.sessions) as session:
            session.execute(
                delete(Subscription).where(Subscription.id == uuid.UUID(subscription_id))
            )
        return selection

    monkeypatch.setitem(ENTRY_SELECTORS, JobKind.SUBSCRIPTION_CHECK, select_then_delete)
    check_id, queued = expand(ctx, subscription_id)
    assert queued == [uploaded]
    ended = run_family(ctx, enqueued, check_id)
    assert ended.status is JobStatus.COMPLETED
    child = children(ctx, check_id)[0]
    assert (child.status, child.api_key_id) == (JobStatus.COMPLETED, ended.api_key_id)
    gone = await client.get(f"{SUBSCRIPTIONS}/{subscription_id}", headers=headers(key))
    assert gone.status_code == 404
    with session_scope(ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionVideo)) == 0


async def test_keep_last_expires_the_older_downloads_and_they_are_not_fetched_again(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    older, newer = channel.upload("20250101"), channel.upload("20250201")
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url, backfill=2, keep_last=1)
    check_id, _ = expand(ctx, subscription_id)
    assert run_family(ctx, enqueued, check_id).status is JobStatus.COMPLETED
    assert checks.keep_last(ctx) == 1
    assert checks.keep_last(ctx) == 0
    statuses = {child.video_id: child.status for child in children(ctx, check_id)}
    assert statuses == {newer: JobStatus.COMPLETED, older: JobStatus.EXPIRED}
    expired = next(child for child in children(ctx, check_id) if child.video_id == older)
    assert expired.files == []
    assert (await state(client, key, subscription_id))["counts"]["downloaded"] == 2
    _, queued = expand(ctx, subscription_id)
    assert queued == []


async def test_a_check_retried_by_hand_updates_the_archive(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    channel: Channel,
) -> None:
    flaky = channel.upload("20250101")
    channel.site.update_entry(flaky, error="private")
    key = make_key()
    subscription_id = await subscribe(client, key, channel.url, backfill=1)
    check_id, _ = expand(ctx, subscription_id)
    assert run_family(ctx, enqueued, check_id).status is JobStatus.FAILED
    assert (await state(client, key, subscription_id))["counts"]["failed"] == 1

    del channel.site.catalog["videos"][flaky]["error"]
    channel.site.save_catalog()
    retried = await client.post(f"/api/v1/downloads/{check_id}/retry", headers=headers(key))
    assert retried.status_code == 202, retried.text
    settle_parent(ctx, check_id)
    assert run_family(ctx, enqueued, check_id).status is JobStatus.COMPLETED
    body = await state(client, key, subscription_id)
    assert body["counts"] == {"seen": 1, "downloaded": 1, "failed": 0, "pending": 0}
    assert body["last_error"] is None
    _, queued = expand(ctx, subscription_id)
    assert queued == []


async def test_a_playlist_backfills_its_last_entries_then_takes_only_added_ones(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    ctx: WorkerContext,
    enqueued: Enqueued,
    youtube_in_process: OfflineYouTube,
) -> None:
    tag = uuid.uuid4().hex
    list_id = f"PLsubs{tag[:28]}"
    entries = [f"p{tag[:6]}{n:04d}" for n in range(1, 4)]
    youtube_in_process.add_playlist(list_id, entries)
    key = make_key()
    subscription_id = await subscribe(
        client, key, youtube_in_process.playlist_url(list_id), backfill=1
    )
    check_id, queued = expand(ctx, subscription_id)
    assert queued == [entries[-1]]
    assert run_family(ctx, enqueued, check_id).status is JobStatus.COMPLETED
    added = f"p{tag[:6]}0009"
    youtube_in_process.add_playlist_entry(list_id, added)
    _, queued = expand(ctx, subscription_id)
    assert queued == [added]
