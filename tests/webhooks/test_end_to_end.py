"""Webhooks through the real API and Celery worker: a job ends, its signed event arrives at a
receiver on loopback, failed attempts are retried with backoff and then given up, and a
notification lost between the commit and the enqueue is sent by the sweep."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.core.database import create_sync_engine, sync_sessionmaker
from app.webhooks.notify import sweep_unnotified
from tests.support.factories import create_key
from tests.support.jobs import submit
from tests.support.offline_youtube import PRIVATE_VIDEO_ID, STANDARD_VIDEO_ID
from tests.support.stack import Stack, StartStack
from tests.webhooks.factories import ended_job
from tests.webhooks.receiver import Receiver, receiver, verify_signature

pytestmark = pytest.mark.e2e
MAX_ATTEMPTS = 3
FAST = {"transcript_only": True, "subtitle_languages": ["en"]}


@pytest.fixture(scope="module")
def webhook_stack(start_stack: StartStack) -> Stack:
    # The default Redis database: sweep_unnotified, called in this process, enqueues there.
    return start_stack(
        "webhooks", WEBHOOK_RETRY_BACKOFF_SECONDS="0.5", WEBHOOK_MAX_ATTEMPTS=str(MAX_ATTEMPTS)
    )


@pytest.fixture
async def http(webhook_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=webhook_stack.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


async def use_webhook(http: httpx.AsyncClient, key: str, url: str) -> str:
    """Make `url` the key's default webhook; returns the key's signing secret."""
    headers = {"X-API-Key": key}
    response = await http.put("/api/v1/webhooks", json={"default_url": url}, headers=headers)
    assert response.status_code == 200, response.text
    secret: str = (await http.get("/api/v1/webhooks", headers=headers)).json()["secret"]
    return secret


async def submit_with_webhook(
    http: httpx.AsyncClient, key: str, url: str, **options: Any
) -> dict[str, Any]:
    job = await submit(http, key, url, **options)
    assert job["webhook_url"], f"the job did not take the key's default webhook: {job}"
    return job


async def deliveries(
    http: httpx.AsyncClient,
    key: str,
    job_id: str,
    until: Callable[[list[dict[str, Any]]], bool],
    within: float = 60,
) -> list[dict[str, Any]]:
    """Poll the job's delivery attempts (the database is the truth) until `until(rows)`."""
    deadline = time.monotonic() + within
    while True:
        response = await http.get(
            f"/api/v1/downloads/{job_id}/webhooks", headers={"X-API-Key": key}
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        if until(rows):
            return rows
        assert time.monotonic() < deadline, f"delivery attempts of {job_id}: {rows}"
        await asyncio.sleep(0.1)


async def test_a_completed_job_posts_a_signed_job_completed_event(
    webhook_stack: Stack, http: httpx.AsyncClient, hook: Receiver
) -> None:
    key = webhook_stack.key()
    secret = await use_webhook(http, key, hook.url())
    job = await submit_with_webhook(
        http, key, webhook_stack.youtube.video_url(STANDARD_VIDEO_ID), **FAST
    )

    [request] = await hook.received_at_least(1)
    assert verify_signature(secret, request.body, request.headers["x-yds-signature"])
    event = request.json()
    assert event["event"] == request.headers["x-yds-event"] == "job.completed"
    assert event["id"] == request.headers["x-yds-delivery"]
    assert request.headers["user-agent"] == "yds-webhooks/1"
    assert event["job"]["job_id"] == job["job_id"] and event["job"]["status"] == "completed"
    assert event["job"]["video_id"] == STANDARD_VIDEO_ID and event["job"]["error"] is None

    done = (await http.get(f"/api/v1/downloads/{job['job_id']}", headers={"X-API-Key": key})).json()
    assert {(f["id"], f["sha256"]) for f in event["job"]["files"]} == {
        (f["id"], f["sha256"]) for f in done["files"]
    }
    kinds = {f["kind"] for f in event["job"]["files"]}
    assert "subtitle" in kinds and "video" not in kinds, "a transcript-only job's files"
    rows = await deliveries(http, key, job["job_id"], lambda rows: len(rows) == 1)
    assert (rows[0]["status_code"], rows[0]["delivered"], rows[0]["attempt"]) == (200, True, 1)


async def test_a_failed_job_posts_job_failed_with_its_error(
    webhook_stack: Stack, http: httpx.AsyncClient, hook: Receiver
) -> None:
    key = webhook_stack.key()
    secret = await use_webhook(http, key, hook.url("/failures"))
    job = await submit_with_webhook(http, key, webhook_stack.youtube.video_url(PRIVATE_VIDEO_ID))

    [request] = await hook.received_at_least(1)
    assert request.path == "/failures"
    assert verify_signature(secret, request.body, request.headers["x-yds-signature"])
    event = request.json()
    assert event["event"] == "job.failed" and event["job"]["job_id"] == job["job_id"]
    assert event["job"]["status"] == "failed" and event["job"]["files"] == []
    assert event["job"]["error"]["code"] == "video_private"


async def test_a_webhook_named_in_the_request_wins_over_the_keys_default(
    webhook_stack: Stack, http: httpx.AsyncClient, hook: Receiver
) -> None:
    key = webhook_stack.key()
    with receiver() as default:
        await use_webhook(http, key, default.url())
        job = await submit(
            http, key, webhook_stack.youtube.video_url(STANDARD_VIDEO_ID),
            webhook_url=hook.url("/mine"), **FAST,
        )  # fmt: skip
        [request] = await hook.received_at_least(1)
        assert request.json()["job"]["job_id"] == job["job_id"]
        await deliveries(http, key, job["job_id"], lambda rows: len(rows) == 1)
        assert default.received == []


async def test_an_error_answer_is_retried_and_the_next_success_ends_it(
    webhook_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = webhook_stack.key()
    with receiver([500, 200]) as flaky:
        await use_webhook(http, key, flaky.url())
        job = await submit_with_webhook(
            http, key, webhook_stack.youtube.video_url(STANDARD_VIDEO_ID), **FAST
        )
        rows = await deliveries(http, key, job["job_id"], lambda rows: len(rows) >= 2)
        requests = flaky.received

    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert rows[0]["error"] == "HTTP 500" and rows[1]["error"] is None
    assert len(requests) == 2
    assert requests[0].headers["x-yds-delivery"] == requests[1].headers["x-yds-delivery"]
    assert requests[0].body == requests[1].body, "the same event, signed again"
    gap = dt.datetime.fromisoformat(rows[1]["created_at"]) - dt.datetime.fromisoformat(
        rows[0]["created_at"]
    )
    assert gap >= dt.timedelta(seconds=0.5), "waited WEBHOOK_RETRY_BACKOFF_SECONDS at least"


async def test_a_receiver_that_always_fails_is_given_up_after_the_last_attempt(
    webhook_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = webhook_stack.key()
    with receiver([503]) as down:
        await use_webhook(http, key, down.url())
        job = await submit_with_webhook(
            http, key, webhook_stack.youtube.video_url(PRIVATE_VIDEO_ID)
        )
        worker = webhook_stack.workers[0]
        await asyncio.to_thread(
            worker.wait_for_log,
            f"gave up delivering job.failed of job {job['job_id']} after {MAX_ATTEMPTS} attempts",
        )
        rows = await deliveries(http, key, job["job_id"], lambda rows: True)
        requests = down.received

    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [
        (n, 503, False) for n in range(1, MAX_ATTEMPTS + 1)
    ]
    assert len(requests) == MAX_ATTEMPTS
    assert len({r.headers["x-yds-delivery"] for r in requests}) == 1


@pytest.fixture
def stack_sessions(webhook_stack: Stack) -> Iterator[sessionmaker[Session]]:
    engine = create_sync_engine(webhook_stack.database_url)
    yield sync_sessionmaker(engine)
    engine.dispose()


async def test_the_sweep_sends_an_ending_whose_notification_was_lost(
    webhook_stack: Stack,
    http: httpx.AsyncClient,
    hook: Receiver,
    stack_sessions: sessionmaker[Session],
) -> None:
    # A worker that died between committing the ending and calling notify_job_ended.
    issued = create_key(webhook_stack.database_url, "sweep")
    job_id = ended_job(
        stack_sessions,
        api_key_id=issued.api_key.id,
        webhook_url=hook.url("/late"),
        ago=dt.timedelta(minutes=2),
    )
    assert await asyncio.to_thread(sweep_unnotified, stack_sessions) == 1

    [request] = await hook.received_at_least(1)
    event = request.json()
    assert event["event"] == "job.completed" and event["job"]["job_id"] == str(job_id)
    await deliveries(http, issued.secret, str(job_id), lambda rows: len(rows) == 1)
    assert await asyncio.to_thread(sweep_unnotified, stack_sessions) == 0, "sent once"
