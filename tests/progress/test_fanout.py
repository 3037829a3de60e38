"""Many watchers on one API process, with a real worker: 500 WebSockets on one job all see
it complete while /health/detailed and /metrics stay up, and server-sent events carry the
same events as the WebSocket."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.faults import throttled_copy, wait_for
from tests.support.jobs import submit
from tests.support.stack import Stack, StartStack
from tests.support.streams import Follower, SseStream, follow

SOCKETS = 500
SMALL = {"include_transcription": False, "include_thumbnail": False, "quality": "360p"}
# A worker runs two downloads at once: two slow ones hold it while the sockets open.
WORKER_SLOTS = 2


@pytest.fixture(scope="module")
def worker_stack(start_stack: StartStack) -> Stack:
    return start_stack("progress-fanout", redis_db=1, MAX_ACTIVE_JOBS_PER_KEY="100")


@pytest.fixture
async def http(worker_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=worker_stack.base_url, timeout=30) as client:
        yield client


async def _poll_health(http: httpx.AsyncClient, stop: asyncio.Event) -> list[tuple[str, int]]:
    answers: list[tuple[str, int]] = []
    while not stop.is_set():
        for path in ("/health/detailed", "/metrics"):
            response = await http.get(path)
            answers.append((path, response.status_code))
            if response.status_code != 200:
                print(path, response.status_code, response.text[:500])
        await asyncio.sleep(0.2)  # the poll's pace; nothing waits on it
    return answers


async def _hold_the_worker(stack: Stack, http: httpx.AsyncClient, key: str) -> list[str]:
    held = []
    for n in range(WORKER_SLOTS):
        url = throttled_copy(stack.youtube, f"fanBlocker{n}", rate=16 * 1024)
        held.append((await submit(http, key, url, **SMALL))["job_id"])
    for job_id in held:
        await wait_for(http, key, job_id, lambda j: j["status"] == "processing")
    return held


async def test_five_hundred_sockets_on_one_job_all_see_it_complete_and_health_stays_up(
    worker_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = worker_stack.key()
    held = await _hold_the_worker(worker_stack, http, key)
    job = await submit(http, key, worker_stack.youtube.video_url("aqz-KE-bpKQ"), **SMALL)
    url = f"{worker_stack.ws_url}/ws/progress/{job['job_id']}"
    stop_polling = asyncio.Event()
    poller = asyncio.create_task(_poll_health(http, stop_polling))

    changed = asyncio.Condition()
    followers = [Follower() for _ in range(SOCKETS)]
    opening = asyncio.Semaphore(50)

    async def watch(follower: Follower) -> Follower:
        async with opening:  # a burst of handshakes, 50 at a time
            task = asyncio.create_task(follow(url, key, follower, changed=changed, within=240))
            async with asyncio.timeout(60), changed:
                await changed.wait_for(lambda: bool(follower.messages) or task.done())
        return await task

    watching = [asyncio.create_task(watch(follower)) for follower in followers]
    async with asyncio.timeout(120), changed:
        await changed.wait_for(lambda: all(f.messages or f.close_code for f in followers))
    assert all(f.events[0]["job"]["status"] == "queued" for f in followers)
    for job_id in held:  # the worker takes the watched job next
        response = await http.delete(f"/api/v1/downloads/{job_id}", headers={"X-API-Key": key})
        assert response.status_code == 202
    await asyncio.gather(*watching)
    stop_polling.set()
    answers = await poller

    for follower in followers:
        assert follower.close_code == 1000, (follower.close_code, follower.events[-2:])
        final = follower.events[-1]
        assert final["type"] == "status" and final["status"] == "completed", final
        seqs = [e["seq"] for e in follower.events]
        assert seqs == sorted(set(seqs)), "increasing, never repeated"
    milestones = {
        tuple((e["type"], e["status"], e["stage"]) for e in f.events[1:] if e["type"] != "progress")
        for f in followers
    }
    assert len(milestones) == 1, "every socket saw the same stage and status events"
    assert ("/health/detailed", 200) in answers and ("/metrics", 200) in answers
    assert {status for _, status in answers} == {200}, answers
    assert "Traceback" not in worker_stack.api.log()
    _print_latency(followers)


def _print_latency(followers: list[Follower]) -> None:
    """Publish-to-receive latency over all sockets (same clock): shown with -s, not asserted."""
    delays = sorted(
        arrived - dt.datetime.fromisoformat(event["emitted_at"]).timestamp()
        for follower in followers
        for event, arrived in zip(follower.events, follower.arrived_at, strict=True)
        if event.get("emitted_at") and event["type"] != "aggregate"
    )
    if delays:
        p50, p99 = statistics.median(delays), delays[int(len(delays) * 0.99)]
        print(f"{len(followers)} sockets: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")


async def test_server_sent_events_carry_the_websockets_events(
    worker_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = worker_stack.key()
    held = await _hold_the_worker(worker_stack, http, key)
    job = await submit(http, key, worker_stack.youtube.video_url("aqz-KE-bpKQ"), **SMALL)
    path = f"/api/v1/downloads/{job['job_id']}/events"
    socket, changed = Follower(), asyncio.Condition()
    socket_task = asyncio.create_task(
        follow(f"{worker_stack.ws_url}/ws/progress/{job['job_id']}", key, socket, changed=changed)
    )

    async with http.stream("GET", path, headers={"X-API-Key": key}) as response:
        stream = SseStream(response)
        await stream.until(lambda read: len(read.messages) == 1)
        async with asyncio.timeout(30), changed:
            await changed.wait_for(lambda: bool(socket.messages))
        for job_id in held:
            await http.delete(f"/api/v1/downloads/{job_id}", headers={"X-API-Key": key})
        read = await stream.until()  # to the end of the body
    await socket_task

    snapshot, *events = read.messages
    assert snapshot.event["type"] == "snapshot" and snapshot.event["job"]["status"] == "queued"
    assert events[-1].event["status"] == "completed" and socket.close_code == 1000
    assert [m.id for m in events] == [str(m.event["seq"]) for m in events]
    from_socket: dict[Any, str] = {
        e["seq"]: text for e, text in zip(socket.events, socket.messages, strict=True)
    }
    assert [m.data for m in events] == [from_socket[m.event["seq"]] for m in events], (
        "the same events, byte for byte"
    )

    last = events[-1].id
    finished = await http.get(path, headers={"X-API-Key": key, "Last-Event-ID": str(last)})
    assert finished.status_code == 204, "seen to the end: EventSource stops reconnecting"
    async with http.stream("GET", path, headers={"X-API-Key": key, "Last-Event-ID": "1"}) as late:
        again = await SseStream(late).until()
    assert [m.event["type"] for m in again.messages] == ["snapshot"]
    assert again.messages[0].event["job"]["status"] == "completed"
