"""Progress streams a client can trust, against the real API process: `seq` resume on the
WebSocket (`?after=`) and over server-sent events (`Last-Event-ID`), and a client that
stops reading closed with 4408 while the others get every event.

Events here are published the way workers publish them (`app.jobs.events.publish`) for a
job no worker runs, so the test decides exactly what happens between two connections."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.jobs import events
from app.jobs.models import JobStage
from tests.support.stack import Stack, StartStack
from tests.support.streams import (
    Follower,
    SseStream,
    StalledClient,
    completed,
    follow,
    publish,
    queued_job,
    socket_url,
)

SEND_TIMEOUT_SECONDS = 1


@pytest.fixture(scope="module")
def idle_stack(start_stack: StartStack) -> Stack:
    """An API without workers: submitted jobs stay queued, their events are the test's."""
    return start_stack(
        "progress-streams",
        workers=0,
        redis_db=1,
        PROGRESS_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT_SECONDS),
        PROGRESS_KEEPALIVE_SECONDS="1",
        MAX_ACTIVE_JOBS_PER_KEY="100",
    )


@pytest.fixture
async def http(idle_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=idle_stack.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def publisher(idle_stack: Stack) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(idle_stack.env["REDIS_URL"]) as client:
        yield client


async def test_a_websocket_resumes_after_the_last_seq_it_saw(
    idle_stack: Stack, http: httpx.AsyncClient, publisher: redis.Redis
) -> None:
    key = idle_stack.key()
    job_id = await queued_job(http, key)
    headers = {"X-API-Key": key}

    async with connect(socket_url(idle_stack, job_id), additional_headers=headers) as socket:
        snapshot = json.loads(await socket.recv())
        for progress in (1, 2, 3):
            publish(publisher, job_id, progress)
        first = [json.loads(await socket.recv()) for _ in range(3)]
    assert snapshot["type"] == "snapshot" and snapshot["job"]["status"] == "queued"
    assert [e["seq"] for e in first] == [snapshot["seq"] + n for n in (1, 2, 3)]
    assert all(e["emitted_at"] for e in first)

    for progress in (4, 5, 6):  # while the client is away
        publish(publisher, job_id, progress)
    resumed, changed = Follower(), asyncio.Condition()
    url = socket_url(idle_stack, job_id, after=first[-1]["seq"])
    task = asyncio.create_task(follow(url, key, resumed, changed=changed))
    async with asyncio.timeout(30), changed:
        await changed.wait_for(lambda: len(resumed.messages) >= 3)
    completed(publisher, job_id)
    await task

    replayed = resumed.events
    assert replayed[0]["type"] == "progress", "a resumed client gets no second snapshot"
    assert [e["progress"] for e in replayed] == [4, 5, 6, 100]
    seqs = [e["seq"] for e in first + replayed]
    assert seqs == list(range(seqs[0], seqs[0] + 7)), "nothing missed, nothing twice"
    assert replayed[-1]["status"] == "completed" and resumed.close_code == 1000


async def test_a_stage_event_behind_the_figure_is_sent_with_the_figure_kept(
    idle_stack: Stack, http: httpx.AsyncClient, publisher: redis.Redis
) -> None:
    """A late progress event is dropped, but a stage change never is: the client sees it,
    with the figure it already had (the figure never goes back)."""
    key = idle_stack.key()
    job_id = await queued_job(http, key)
    async with connect(
        socket_url(idle_stack, job_id), additional_headers={"X-API-Key": key}
    ) as socket:
        await socket.recv()  # the snapshot
        publish(publisher, job_id, 60.0)
        publish(publisher, job_id, 55.0)  # late: dropped
        publish(publisher, job_id, 58.0, type="stage", stage=JobStage.POSTPROCESSING)
        completed(publisher, job_id)
        received = [json.loads(message) async for message in socket]

    assert [(e["type"], e["stage"], e["progress"]) for e in received] == [
        ("progress", "downloading", 60.0),
        ("stage", "postprocessing", 60.0),
        ("status", None, 100.0),
    ]


async def test_resuming_from_a_seq_no_longer_kept_gets_a_fresh_snapshot(
    idle_stack: Stack, http: httpx.AsyncClient, publisher: redis.Redis
) -> None:
    key = idle_stack.key()
    job_id = await queued_job(http, key)
    for n in range(events.HISTORY_EVENTS + 5):
        publish(publisher, job_id, n / 10)
    headers = {"X-API-Key": key}

    for after in (1, 10**9):  # fell out of the history; never was (another Redis, say)
        async with connect(
            socket_url(idle_stack, job_id, after=after), additional_headers=headers
        ) as socket:
            snapshot = json.loads(await socket.recv())
            assert snapshot["type"] == "snapshot"
            assert snapshot["seq"] == events.HISTORY_EVENTS + 5
            publish(publisher, job_id, 50)
            live = json.loads(await socket.recv())
            assert live["seq"] == snapshot["seq"] + 1 and live["progress"] == 50
        publisher.delete(events.seq_key(uuid.UUID(job_id)))
        for n in range(events.HISTORY_EVENTS + 5):
            publish(publisher, job_id, n / 10)


async def test_server_sent_events_resume_with_last_event_id_and_keep_idle_streams_alive(
    idle_stack: Stack, http: httpx.AsyncClient, publisher: redis.Redis
) -> None:
    key = idle_stack.key()
    job_id = await queued_job(http, key)
    url = f"/api/v1/downloads/{job_id}/events"
    headers = {"X-API-Key": key}

    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        stream = SseStream(response)
        await stream.until(lambda read: len(read.messages) == 1)
        # One at a time: two progress events waiting together for a busy stream are
        # coalesced to the latest (by design), and this test is about ids and resuming.
        publish(publisher, job_id, 1)
        await stream.until(lambda read: len(read.messages) == 2)
        publish(publisher, job_id, 2)
        first = await stream.until(lambda read: len(read.messages) == 3)
    snapshot, *live = first.messages
    assert snapshot.event["type"] == "snapshot" and snapshot.id == str(snapshot.event["seq"])
    assert [m.id for m in live] == [str(m.event["seq"]) for m in live]
    assert [m.event["progress"] for m in live] == [1, 2]
    last_seen = int(live[-1].id or 0)

    publish(publisher, job_id, 3)  # missed while away
    resumed_headers = {**headers, "Last-Event-ID": str(last_seen)}
    async with http.stream("GET", url, headers=resumed_headers) as response:
        stream = SseStream(response)
        # Replayed at once; then, idle, the stream gets keep-alive comments.
        await stream.until(lambda read: len(read.messages) == 1 and "keep-alive" in read.comments)
        completed(publisher, job_id)
        second = await stream.until()  # ends after the terminal event
    assert [m.event["progress"] for m in second.messages] == [3, 100]
    assert second.messages[-1].event["status"] == "completed"
    assert [m.id for m in second.messages] == [str(last_seen + 1), str(last_seen + 2)]
    others = await http.get(url, headers={"X-API-Key": idle_stack.key("someone-else")})
    assert others.status_code == 404 and others.json()["error"]["code"] == "job_not_found"
    assert (await http.get(url)).status_code == 401


async def test_a_client_that_stops_reading_is_closed_with_4408_while_others_get_every_event(
    idle_stack: Stack, http: httpx.AsyncClient, publisher: redis.Redis
) -> None:
    key = idle_stack.key()
    job_id = await queued_job(http, key)
    changed = asyncio.Condition()
    fast = [Follower() for _ in range(3)]
    tasks = [
        asyncio.create_task(follow(socket_url(idle_stack, job_id), key, f, changed=changed))
        for f in fast
    ]
    stalled = await asyncio.to_thread(StalledClient, socket_url(idle_stack, job_id), key)

    async def seen_by_all(seq: int) -> None:
        async with asyncio.timeout(60), changed:
            await changed.wait_for(lambda: all(f.last_seq >= seq for f in fast))

    await seen_by_all(0)
    start = max(f.last_seq for f in fast)
    # Publish until the server gives up on the stalled client: how much that takes depends
    # on the kernel's socket buffers (megabytes on loopback), not on the server. Each burst
    # is published faster than any client reads, so every stream may coalesce a burst's
    # progress to its latest; the fast clients must still get each burst's last event.
    total, burst = 0, 100
    while "client too slow" not in idle_stack.api.log():
        assert total < 100_000, "the stalled client was never closed"
        for n in range(total, total + burst):
            publish(publisher, job_id, min(n / 1000, 99))
        total += burst
        await seen_by_all(start + total)
    completed(publisher, job_id)
    await asyncio.gather(*tasks)
    code, reason = await asyncio.to_thread(stalled.read_to_close)
    stalled.close()

    assert code == 4408 and "?after=" in reason, (code, reason)
    assert len(stalled.messages) < total, "the stuck client was cut off, not fed everything"
    bursts_last = {start + n for n in range(burst, total + 1, burst)}
    for follower in fast:
        seqs = [e["seq"] for e in follower.events[1:]]
        assert seqs == sorted(set(seqs)), "in order, none twice"
        assert bursts_last <= set(seqs), "each burst's latest state reached every fast client"
        assert seqs[-1] == start + total + 1
        assert follower.events[-1]["status"] == "completed" and follower.close_code == 1000


async def test_the_web_uis_session_cookie_opens_a_socket_only_from_its_own_origin(
    idle_stack: Stack, http: httpx.AsyncClient, publisher: redis.Redis
) -> None:
    """The browser sends the UI's HttpOnly cookie with the socket's handshake: no key in the
    URL. Another site's page cannot ride on it (Origin), and without it the socket is 4401."""
    key = idle_stack.key()
    job_id = await queued_job(http, key)
    signed_in = await http.post("/api/v1/session", json={"api_key": key})
    assert signed_in.status_code == 200, signed_in.text
    cookie = f"yds_session={signed_in.cookies['yds_session']}"
    own = {"Cookie": cookie, "Origin": idle_stack.base_url}

    async with connect(socket_url(idle_stack, job_id), additional_headers=own) as socket:
        snapshot = json.loads(await socket.recv())
        completed(publisher, job_id)
        last = json.loads(await socket.recv())
        with pytest.raises(ConnectionClosed):
            await socket.recv()
    assert snapshot["type"] == "snapshot" and snapshot["job"]["job_id"] == job_id
    assert last["status"] == "completed" and socket.close_code == 1000

    foreign = {"Cookie": cookie, "Origin": "https://evil.example"}
    nobody = {"Origin": idle_stack.base_url}
    for headers, code in ((foreign, 4403), (nobody, 4401)):
        async with connect(socket_url(idle_stack, job_id), additional_headers=headers) as socket:
            with pytest.raises(ConnectionClosed):
                await socket.recv()
        assert socket.close_code == code, headers
