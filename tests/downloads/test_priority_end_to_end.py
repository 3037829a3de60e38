"""Priorities through a real API and Celery worker: with the only download slot taken, a
`high` job submitted after several `normal` ones starts before them, the `normal` ones keep
their order, and a `low` one comes last; a playlist's entries inherit its priority; a job
that waits past PRIORITY_AGE_BOOST_MINUTES is raised a step by beat's reconciler."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.faults import throttled_copy
from tests.support.jobs import fetch_job, submit
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.stack import Stack, StartStack, start_worker

pytestmark = pytest.mark.e2e
# bytes/s a connection: the blocking download takes a few seconds, long enough to queue
# the others behind it.
BLOCKER_RATE = 96 * 1024
ENDED = {"completed", "failed", "canceled"}


@pytest.fixture(scope="module")
def one_slot(start_stack: StartStack) -> Stack:
    """An API and one worker with one download slot (concurrency 1)."""
    stack = start_stack("priority", workers=0)
    worker = start_worker(stack.env, stack.log_dir, name="one-slot", concurrency=1)
    stack.workers.append(worker)  # stopped, and its log shown, with the stack
    return stack


@pytest.fixture(scope="module")
def boosting(start_stack: StartStack) -> Stack:
    """One download slot, a boost after 3 s of waiting, and beat's reconciler every second on
    a maintenance worker of its own (on the download worker it would wait for the slot)."""
    stack = start_stack(
        "priority-boost",
        redis_db=10,  # alive beside `one_slot`: a broker of its own
        workers=0,
        PRIORITY_AGE_BOOST_MINUTES="0.05",
        RECONCILE_INTERVAL_SECONDS="1",
    )
    downloads = "downloads.high,downloads,downloads.low"
    stack.workers.append(
        start_worker(stack.env, stack.log_dir, name="one-slot", concurrency=1, queues=downloads)
    )
    stack.workers.append(
        start_worker(
            stack.env, stack.log_dir, name="upkeep", concurrency=1, queues="maintenance", beat=True
        )
    )
    return stack


@pytest.fixture
async def http(one_slot: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=one_slot.base_url, timeout=30) as client:
        yield client


async def until_status(
    http: httpx.AsyncClient, key: str, job_id: str, wanted: set[str], within: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        job = await fetch_job(http, key, job_id)
        if job["status"] in wanted:
            return job
        assert time.monotonic() < deadline, f"{job_id} still {job['status']}: {job}"
        await asyncio.sleep(0.1)


async def test_a_high_job_starts_before_the_normal_ones_queued_earlier(
    one_slot: Stack, http: httpx.AsyncClient
) -> None:
    key = one_slot.key("priority-order")
    blocker_url = throttled_copy(one_slot.youtube, "prioBlock01", rate=BLOCKER_RATE)
    blocker = (await submit(http, key, blocker_url))["job_id"]
    await until_status(http, key, blocker, {"processing"})

    url = one_slot.youtube.video_url(STANDARD_VIDEO_ID)
    light = {"transcript_only": True}
    low = (await submit(http, key, url, priority="low", **light))["job_id"]
    normal = [(await submit(http, key, url, **light))["job_id"] for _ in range(3)]
    high = await submit(http, key, url, priority="high", **light)
    assert high["priority"] == "high"
    queued = await fetch_job(http, key, normal[0])
    assert queued["status"] == "queued", "the only slot is still taken"
    assert queued["priority"] == "normal", "the default"

    await until_status(http, key, blocker, ENDED)
    ended = [
        await until_status(http, key, job_id, ENDED) for job_id in [high["job_id"], *normal, low]
    ]
    started = [job["started_at"] for job in ended]
    assert all(started), ended
    # One slot: the claims are one after another, in the order the worker took them.
    assert started == sorted(started), [(job["priority"], job["started_at"]) for job in ended]
    assert [job["priority"] for job in ended] == ["high", "normal", "normal", "normal", "low"]


async def test_a_playlists_entries_inherit_its_priority(
    one_slot: Stack, http: httpx.AsyncClient
) -> None:
    key = one_slot.key("priority-family")
    one_slot.youtube.add_playlist("PLpriority01", ["prioEntry01", "prioEntry02"])
    playlist = await submit(
        http,
        key,
        one_slot.youtube.playlist_url("PLpriority01"),
        priority="low",
        transcript_only=True,
    )
    assert playlist["priority"] == "low"
    await until_status(http, key, playlist["job_id"], ENDED)
    response = await http.get(
        "/api/v1/downloads",
        params={"parent_id": playlist["job_id"]},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 200, response.text
    entries = response.json()["items"]
    assert len(entries) == 2
    assert {entry["priority"] for entry in entries} == {"low"}


async def test_a_low_job_waiting_past_the_age_boost_is_raised_and_runs(boosting: Stack) -> None:
    async with httpx.AsyncClient(base_url=boosting.base_url, timeout=30) as http:
        key = boosting.key("priority-boost")
        blocker_url = throttled_copy(boosting.youtube, "prioBoost01", rate=BLOCKER_RATE // 2)
        blocker = (await submit(http, key, blocker_url))["job_id"]
        await until_status(http, key, blocker, {"processing"})
        low = await submit(
            http, key, boosting.youtube.video_url(STANDARD_VIDEO_ID), priority="low",
            transcript_only=True,
        )  # fmt: skip
        assert low["priority"] == "low"

        deadline = time.monotonic() + 60
        while (job := await fetch_job(http, key, low["job_id"]))["priority"] == "low":
            assert job["status"] == "queued", "raised while it waits, not after"
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.2)
        assert job["priority"] in ("normal", "high"), job
        raised_while_blocked = (await fetch_job(http, key, blocker))["status"] == "processing"
        assert raised_while_blocked, "the slot was still taken: the boost, not a free slot"

        ended = await until_status(http, key, low["job_id"], ENDED, within=120)
        assert ended["status"] == "completed", ended
