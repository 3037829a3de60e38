"""The reconciler finds jobs a lost message or a dead worker left behind: the row, not the
message, is the truth."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import pipeline, reconciler, repository
from app.jobs import events
from app.jobs.models import Job, JobStatus, Priority, WaitingReason
from app.storage.local import LocalStorageHandler
from app.worker.context import WorkerContext
from tests.support.factories import create_job


class Enqueued(list[uuid.UUID]):
    def __init__(self) -> None:
        super().__init__()
        self.priorities: dict[uuid.UUID, str] = {}  # the priority each job was last sent with

    def __call__(self, job_id: uuid.UUID, countdown: float, priority: str = "normal") -> None:
        self.append(job_id)
        self.priorities[job_id] = priority


@pytest.fixture
def enqueued() -> Enqueued:
    return Enqueued()


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path, enqueued: Enqueued) -> WorkerContext:
    return WorkerContext(
        settings=settings,
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url),
        storage=LocalStorageHandler(tmp_path / "store"),
        enqueue=enqueued,
    )


def load(ctx: WorkerContext, job_id: uuid.UUID) -> Job:
    with session_scope(ctx.sessions) as session:
        job = session.scalar(select(Job).where(Job.id == job_id))
        assert job is not None
        return job


def test_requeues_lost_messages_and_expired_leases_and_ends_hopeless_jobs(
    ctx: WorkerContext, enqueued: Enqueued
) -> None:
    now = dt.datetime.now(dt.UTC)
    long_ago = now - dt.timedelta(hours=2)
    fresh_queued = create_job(ctx.sessions)
    lost_message = create_job(ctx.sessions, dispatched_at=long_ago)
    running = create_job(ctx.sessions, status=JobStatus.PROCESSING, heartbeat_at=now, attempts=1)
    dead_worker = create_job(
        ctx.sessions, status=JobStatus.PROCESSING, heartbeat_at=long_ago, attempts=1
    )
    out_of_attempts = create_job(
        ctx.sessions,
        status=JobStatus.PROCESSING,
        heartbeat_at=long_ago,
        attempts=ctx.settings.max_attempts,
        retries=1,  # a transient failure was retried before the workers died
        error_code="network_error",
        error_message="HTTP Error 503: Service Unavailable",
    )
    canceled_while_dead = create_job(
        ctx.sessions,
        status=JobStatus.PROCESSING,
        heartbeat_at=long_ago,
        attempts=1,
        cancel_requested=True,
    )
    handled = reconciler.reconcile(ctx, queued_in_broker=None)

    assert handled == 4
    assert sorted(enqueued) == sorted([lost_message, dead_worker])
    assert load(ctx, lost_message).dispatched_at > now  # type: ignore[operator]
    assert load(ctx, fresh_queued).status is JobStatus.QUEUED
    assert load(ctx, running).status is JobStatus.PROCESSING
    gave_up = load(ctx, out_of_attempts)
    assert gave_up.status is JobStatus.FAILED and gave_up.error_code == "worker_lost"
    assert gave_up.error_message == (
        f"The job's worker was lost {ctx.settings.max_attempts} times; giving up. The last "
        "error before that was network_error: HTTP Error 503: Service Unavailable"
    )
    assert load(ctx, canceled_while_dead).status is JobStatus.CANCELED


def test_a_claim_succeeds_once_then_only_after_the_lease_expires(ctx: WorkerContext) -> None:
    job_id = create_job(ctx.sessions)
    with session_scope(ctx.sessions) as session:
        first = repository.claim_job(session, job_id, worker_id="a", lease_seconds=60)
        duplicate = repository.claim_job(session, job_id, worker_id="b", lease_seconds=60)
        assert first is not None and first.attempts == 1
        assert duplicate is None, "a duplicate delivery finds the job taken"
        takeover = repository.claim_job(session, job_id, worker_id="c", lease_seconds=0)
        assert takeover is not None and takeover.attempts == 2
        assert not repository.renew_lease(session, job_id, worker_id="a", progress={}).owned


def test_with_an_inspectable_broker_only_jobs_missing_from_it_are_requeued(
    ctx: WorkerContext, enqueued: Enqueued
) -> None:
    a_while_ago = dt.datetime.now(dt.UTC) - dt.timedelta(
        seconds=ctx.settings.dispatch_grace_seconds + 5
    )
    waiting = create_job(ctx.sessions, dispatched_at=a_while_ago)
    lost = create_job(ctx.sessions, dispatched_at=a_while_ago)
    just_sent = create_job(ctx.sessions)
    backing_off = create_job(
        ctx.sessions,
        dispatched_at=a_while_ago,
        next_attempt_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
    )

    reconciler.reconcile(ctx, queued_in_broker={str(waiting)})

    assert enqueued == [lost], (waiting, lost, just_sent, backing_off)


def test_a_worker_short_of_disk_leaves_the_job_queued_saying_low_disk(
    ctx: WorkerContext, enqueued: Enqueued
) -> None:
    """Nothing is claimed, the message comes back later, and the row says why and when."""
    short = ctx.settings.model_copy(update={"min_free_disk_gb": 1_000_000.0})
    job_id = create_job(ctx.sessions)
    before = dt.datetime.now(dt.UTC)
    pipeline.run_job(dataclasses.replace(ctx, settings=short), job_id)

    job = load(ctx, job_id)
    assert job.status is JobStatus.QUEUED and job.attempts == 0
    assert job.waiting_reason is WaitingReason.LOW_DISK
    assert job.next_attempt_at is not None
    assert before + dt.timedelta(seconds=pipeline.DISK_WAIT_SECONDS) <= job.next_attempt_at
    assert enqueued == [job_id]


def test_a_job_asked_to_pause_whose_worker_died_is_paused_not_run_again(
    ctx: WorkerContext, enqueued: Enqueued
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    pausing = create_job(
        ctx.sessions,
        status=JobStatus.PROCESSING,
        worker_id="gone:1",
        heartbeat_at=long_ago,
        attempts=1,
        pause_requested=True,
    )
    assert reconciler.reconcile(ctx, queued_in_broker=None) == 1

    assert enqueued == []
    paused = load(ctx, pausing)
    assert paused.status is JobStatus.PAUSED and paused.paused_at is not None
    assert (paused.worker_id, paused.pause_requested) == (None, False)
    # Nothing more to do on the next pass: a paused job is not stuck.
    assert reconciler.reconcile(ctx, queued_in_broker=None) == 0


def test_a_lost_message_is_sent_again_at_the_jobs_priority(
    ctx: WorkerContext, enqueued: Enqueued
) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    low = create_job(ctx.sessions, dispatched_at=long_ago, priority=Priority.LOW)
    high = create_job(ctx.sessions, dispatched_at=long_ago, priority=Priority.HIGH)

    reconciler.reconcile(ctx, queued_in_broker=set())

    assert enqueued.priorities == {low: "low", high: "high"}


def test_a_job_waiting_past_the_age_boost_is_raised_one_step_and_sent_again(
    ctx: WorkerContext, enqueued: Enqueued
) -> None:
    boost = dt.timedelta(minutes=ctx.settings.priority_age_boost_minutes)
    now = dt.datetime.now(dt.UTC)
    aged = now - boost - dt.timedelta(minutes=1)
    fresh = now - boost / 2
    aged_low = create_job(ctx.sessions, dispatched_at=aged, priority=Priority.LOW)
    aged_normal = create_job(ctx.sessions, dispatched_at=aged)
    aged_high = create_job(ctx.sessions, dispatched_at=aged, priority=Priority.HIGH)
    fresh_low = create_job(ctx.sessions, dispatched_at=fresh, priority=Priority.LOW)
    # Put off by a worker until later (a retry's backoff): it has not been due that long.
    backing_off = create_job(
        ctx.sessions,
        dispatched_at=aged,
        next_attempt_at=fresh,
        waiting_reason=WaitingReason.RETRY_BACKOFF,
        priority=Priority.LOW,
    )
    held_entry = create_job(ctx.sessions, dispatched_at=None, priority=Priority.LOW)
    running = create_job(
        ctx.sessions, dispatched_at=aged, status=JobStatus.PROCESSING, priority=Priority.LOW
    )

    assert reconciler.raise_aged(ctx) == 2

    assert enqueued.priorities == {aged_low: "normal", aged_normal: "high"}
    raised = load(ctx, aged_low)
    assert raised.priority is Priority.NORMAL
    assert raised.dispatched_at is not None and raised.dispatched_at > now
    assert load(ctx, aged_normal).priority is Priority.HIGH
    # Its watchers are told (the queue page's tag changes): queued still, at the new level.
    told = [events.decode(raw) for raw in ctx.redis.lrange(events.history_key(aged_low), 0, -1)]
    assert [(e.type, e.status, e.priority) for e in told] == [
        ("status", JobStatus.QUEUED, Priority.NORMAL)
    ]
    for unchanged, priority in [
        (aged_high, Priority.HIGH),
        (fresh_low, Priority.LOW),
        (backing_off, Priority.LOW),
        (held_entry, Priority.LOW),
        (running, Priority.LOW),
    ]:
        assert load(ctx, unchanged).priority is priority

    # Raised again only after waiting the boost again at its new level.
    assert reconciler.raise_aged(ctx) == 0


def test_no_age_boost_when_it_is_off(ctx: WorkerContext, enqueued: Enqueued) -> None:
    off = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"priority_age_boost_minutes": 0})
    )
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    low = create_job(ctx.sessions, dispatched_at=long_ago, priority=Priority.LOW)

    assert reconciler.raise_aged(off) == 0
    assert enqueued == [] and load(ctx, low).priority is Priority.LOW
