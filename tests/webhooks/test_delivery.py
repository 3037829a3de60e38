"""One delivery attempt against the real database (SQLite and PostgreSQL) and a receiver on
loopback: the payload, the signature, the recorded attempts and the retry schedule."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker, utcnow
from app.jobs.models import FileKind, Job, JobKind, JobStatus
from app.webhooks import repository
from app.webhooks.delivery import DeliveryContext, deliver, retry_delay
from app.webhooks.models import WebhookDelivery
from app.webhooks.signing import webhook_secret
from tests.support.constants import TEST_KEY_SECRET
from tests.support.factories import create_key
from tests.webhooks.factories import add_file, children, ended_job
from tests.webhooks.receiver import receiver, verify_signature

Scheduled = tuple[uuid.UUID, uuid.UUID, int, float]


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_sync_engine(database_url)
    yield sync_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def key_id(database_url: str) -> uuid.UUID:
    return create_key(database_url, "hooks").api_key.id


def context(
    settings: Settings,
    sessions: sessionmaker[Session],
    scheduled: list[Scheduled],
    **overrides: object,
) -> DeliveryContext:
    tuned = settings.model_copy(
        update={
            "allow_private_networks": True,
            "webhook_max_attempts": 3,
            "webhook_retry_backoff_seconds": 10.0,
            "webhook_timeout_seconds": 5.0,
            **overrides,
        }
    )
    return DeliveryContext(
        settings=tuned,
        sessions=sessions,
        server_secret=TEST_KEY_SECRET.encode(),
        schedule=lambda *args: scheduled.append(args),
    )


def attempts(sessions: sessionmaker[Session], job_id: uuid.UUID) -> list[WebhookDelivery]:
    with session_scope(sessions) as session:
        return list(repository.list_deliveries(session, job_id))


def test_a_completed_job_is_delivered_signed_and_recorded(
    settings: Settings, sessions: sessionmaker[Session], key_id: uuid.UUID
) -> None:
    scheduled: list[Scheduled] = []
    with receiver() as hook:
        job_id = ended_job(
            sessions,
            api_key_id=key_id,
            webhook_url=hook.url(),
            title="Clip",
            video_id="aqz-KE-bpKQ",
            channel_name="Offline",
        )
        add_file(sessions, job_id, FileKind.VIDEO, "mp4")
        add_file(sessions, job_id, FileKind.SUBTITLE, "srt")
        result = deliver(context(settings, sessions, scheduled), job_id, event_id=None, attempt=1)
        [request] = hook.received

    assert result is not None and result.delivered
    secret = webhook_secret(TEST_KEY_SECRET.encode(), key_id)
    assert verify_signature(secret, request.body, request.headers["x-yds-signature"])
    payload = request.json()
    assert request.headers["user-agent"] == "yds-webhooks/1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-yds-event"] == payload["event"] == "job.completed"
    assert request.headers["x-yds-delivery"] == payload["id"]
    job = payload["job"]
    assert job["job_id"] == str(job_id) and job["status"] == "completed" and job["kind"] == "video"
    assert (job["title"], job["channel"], job["video_id"]) == ("Clip", "Offline", "aqz-KE-bpKQ")
    assert job["error"] is None and job["children"] is None and job["parent_id"] is None
    assert [(f["kind"], f["format"], f["language"]) for f in job["files"]] == [
        ("video", "mp4", None),
        ("subtitle", "srt", "en"),
    ]
    assert set(job["files"][0]) == {"id", "kind", "language", "format", "size", "sha256"}
    assert payload["created_at"] == job["completed_at"]

    [row] = attempts(sessions, job_id)
    assert (row.event, row.attempt, row.status_code, row.delivered, row.error) == (
        "job.completed",
        1,
        200,
        True,
        None,
    )
    assert scheduled == []


def test_failures_are_retried_with_doubling_backoff_until_the_last_attempt(
    settings: Settings, sessions: sessionmaker[Session], key_id: uuid.UUID
) -> None:
    scheduled: list[Scheduled] = []
    ctx = context(settings, sessions, scheduled)
    with receiver([503]) as hook:
        job_id = ended_job(sessions, api_key_id=key_id, webhook_url=hook.url())
        deliver(ctx, job_id, event_id=None, attempt=1)
        [(_, event_id, attempt, first_delay)] = scheduled
        assert attempt == 2 and 10 <= first_delay <= 12.5
        deliver(ctx, job_id, event_id=event_id, attempt=2)
        assert scheduled[1][:3] == (job_id, event_id, 3) and 20 <= scheduled[1][3] <= 25
        deliver(ctx, job_id, event_id=event_id, attempt=3)
        requests = hook.received

    assert len(scheduled) == 2, "the third attempt is the last (WEBHOOK_MAX_ATTEMPTS=3)"
    assert [r.headers["x-yds-delivery"] for r in requests] == [str(event_id)] * 3
    assert len({r.body for r in requests}) == 1, "every attempt sends the same event"
    rows = attempts(sessions, job_id)
    assert [(r.attempt, r.status_code, r.delivered, r.error) for r in rows] == [
        (n, 503, False, "HTTP 503") for n in (1, 2, 3)
    ]


def test_a_private_address_is_refused_at_delivery_and_recorded(
    settings: Settings, sessions: sessionmaker[Session], key_id: uuid.UUID
) -> None:
    scheduled: list[Scheduled] = []
    ctx = context(settings, sessions, scheduled, allow_private_networks=False)
    with receiver() as hook:
        job_id = ended_job(sessions, api_key_id=key_id, webhook_url=hook.url(host="localhost"))
        result = deliver(ctx, job_id, event_id=None, attempt=1)
        assert hook.received == [], "no connection to loopback"

    assert result is not None and not result.delivered
    [row] = attempts(sessions, job_id)
    assert row.status_code is None and not row.delivered
    assert (
        row.error == "forbidden address: localhost resolves to 127.0.0.1, which is a "
        "loopback address"
    )
    assert [attempt for _, _, attempt, _ in scheduled] == [2], "retried like any failure"


def test_a_redelivered_message_or_an_outdated_retry_sends_nothing(
    settings: Settings, sessions: sessionmaker[Session], key_id: uuid.UUID
) -> None:
    scheduled: list[Scheduled] = []
    ctx = context(settings, sessions, scheduled)
    with receiver([500, 200]) as hook:
        job_id = ended_job(
            sessions,
            api_key_id=key_id,
            webhook_url=hook.url(),
            status=JobStatus.FAILED,
            error_code="video_private",
            error_message="Private video.",
        )
        deliver(ctx, job_id, event_id=None, attempt=1)
        assert deliver(ctx, job_id, event_id=None, attempt=1) is None, "attempt 1 again"
        old_event = scheduled[0][1]

        # The job is retried and ends again: the old event's retry has nothing to say.
        with session_scope(sessions) as session:
            session.execute(update(Job).where(Job.id == job_id).values(completed_at=utcnow()))
        assert deliver(ctx, job_id, event_id=old_event, attempt=2) is None
        delivered = deliver(ctx, job_id, event_id=None, attempt=1)
        assert delivered is not None and delivered.delivered
        assert deliver(ctx, job_id, event_id=None, attempt=1) is None, "delivered already"
        requests = hook.received

    assert len(requests) == 2
    first, second = (r.json() for r in requests)
    assert first["id"] != second["id"], "each ending is its own event"
    assert first["job"]["error"] == {"code": "video_private", "message": "Private video."}
    assert first["event"] == "job.failed"


def test_nothing_is_sent_for_a_job_without_webhook_or_not_ended(
    settings: Settings, sessions: sessionmaker[Session], key_id: uuid.UUID
) -> None:
    scheduled: list[Scheduled] = []
    ctx = context(settings, sessions, scheduled)
    with receiver() as hook:
        quiet = ended_job(sessions, api_key_id=key_id, webhook_url=None)
        running = ended_job(
            sessions, api_key_id=key_id, webhook_url=hook.url(), status=JobStatus.PROCESSING
        )
        assert deliver(ctx, quiet, event_id=None, attempt=1) is None
        assert deliver(ctx, running, event_id=None, attempt=1) is None
        assert deliver(ctx, uuid.uuid4(), event_id=None, attempt=1) is None, "deleted job"
        assert hook.received == []
    assert scheduled == []


def test_a_parent_job_reports_how_its_children_ended(
    settings: Settings, sessions: sessionmaker[Session], key_id: uuid.UUID
) -> None:
    scheduled: list[Scheduled] = []
    with receiver() as hook:
        parent = ended_job(
            sessions,
            api_key_id=key_id,
            webhook_url=hook.url(),
            kind=JobKind.PLAYLIST,
            status=JobStatus.CANCELED,
        )
        children(
            sessions,
            parent,
            key_id,
            JobStatus.COMPLETED,
            JobStatus.COMPLETED,
            JobStatus.FAILED,
            JobStatus.CANCELED,
            JobStatus.QUEUED,
        )
        deliver(context(settings, sessions, scheduled), parent, event_id=None, attempt=1)
        [request] = hook.received
    payload = request.json()
    assert payload["event"] == "job.canceled" and payload["job"]["kind"] == "playlist"
    assert payload["job"]["children"] == {"total": 5, "completed": 2, "failed": 1, "canceled": 1}


def test_the_sweep_finds_ended_jobs_whose_notification_never_went_out(
    sessions: sessionmaker[Session], key_id: uuid.UUID
) -> None:
    url = "https://hooks.example.com/yds"
    minutes = dt.timedelta(minutes=1)
    lost = ended_job(sessions, api_key_id=key_id, webhook_url=url, ago=2 * minutes)
    failed = ended_job(
        sessions, api_key_id=key_id, webhook_url=url, ago=3 * minutes, status=JobStatus.FAILED
    )
    ended_job(sessions, api_key_id=key_id, webhook_url=url, ago=dt.timedelta(seconds=5))
    ended_job(sessions, api_key_id=key_id, webhook_url=url, ago=dt.timedelta(hours=25))
    ended_job(sessions, api_key_id=key_id, webhook_url=None, ago=2 * minutes)
    ended_job(
        sessions, api_key_id=key_id, webhook_url=url, ago=2 * minutes, status=JobStatus.PROCESSING
    )
    attempted = ended_job(sessions, api_key_id=key_id, webhook_url=url, ago=2 * minutes)
    with session_scope(sessions) as session:
        repository.record_attempt(
            session,
            job_id=attempted,
            event="job.completed",
            attempt=1,
            status_code=500,
            error="HTTP 500",
            delivered=False,
        )

    now = utcnow()
    with session_scope(sessions) as session:
        found = repository.find_unnotified(
            session,
            ended_after=now - dt.timedelta(hours=24),
            ended_before=now - minutes,
            limit=100,
        )
    assert found == [failed, lost], "oldest first"


def test_the_retry_delay_doubles_with_jitter_and_is_capped() -> None:
    for attempt, expected in [(1, 10), (2, 20), (3, 40), (5, 160)]:
        delays = [retry_delay(attempt, 10) for _ in range(50)]
        assert all(expected <= delay <= expected * 1.25 for delay in delays)
        assert len(set(delays)) > 1, "jittered"
    assert retry_delay(20, 10) == 600, "never longer than the broker keeps a message hidden"
