"""The figure and stage a client sees are honest, through a real API and Celery worker: the
default request (separate video and audio, thumbnail on) shows `downloading` while its bytes
flow and a figure that follows them, about four times a second; a playlist's figure follows
its entries' bytes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.downloads.engine.progress import STAGE_BANDS
from app.jobs.models import JobStage
from tests.support.faults import job, throttled_copy
from tests.support.jobs import Watched, submit, watch
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
# bytes/s a connection: over the default four, the slow fixture's ~3.9 MB take about 8 s
RATE = 128 * 1024
TOLERANCE = 5.0


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


def media_bytes(stack: Stack, video_id: str, format_ids: list[str]) -> int:
    return sum(stack.youtube.format_path(video_id, f).stat().st_size for f in format_ids)


def byte_figure(done: int, total: int) -> float:
    """Where the bar should be: the byte fraction scaled to the download's share."""
    start, end = STAGE_BANDS[JobStage.DOWNLOADING]
    return start + (end - start) * done / total


def download_rate(watched: Watched) -> tuple[float, int]:
    """Events a second while the bytes flowed, and the most seen within any one second."""
    times = [
        at
        for event, at in zip(watched.events, watched.received_at, strict=True)
        if event.get("stage") == "downloading" and event["type"] == "progress"
    ]
    assert len(times) >= 2, watched.events
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    return (len(times) - 1) / (times[-1] - times[0]), busiest


async def test_the_default_request_shows_downloading_and_its_bytes_until_they_are_in(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    url = throttled_copy(stack.youtube, "honestBar01", rate=RATE)
    job_id = (await submit(http, key, url))["job_id"]  # only a url: the default request

    watched = await watch(stack.ws_url, job_id, key=key, within=120)

    done = await job(http, key, job_id)
    assert done["details"]["format_ids"] == ["134", "140"], "video and audio, merged"
    total = media_bytes(stack, "honestBar01", ["134", "140"])
    events = watched.events[1:]
    flowing = [e for e in events if e.get("downloaded_bytes") is not None
               and e["downloaded_bytes"] < total]  # fmt: skip
    assert len(flowing) >= 10, "progress is pushed while the bytes flow"
    assert {e["stage"] for e in flowing} == {"downloading"}
    for event in flowing:
        assert event["total_bytes"] == total, "both formats' sizes are known up front"
        expected = byte_figure(event["downloaded_bytes"], total)
        assert abs(event["progress"] - expected) <= TOLERANCE, (event, expected)
    last_flowing = events.index(flowing[-1])
    before = {e["stage"] for e in events[:last_flowing]}
    assert before == {"extracting", "downloading"}, "nothing else until the bytes are in"
    stages = [e["stage"] for e in events if e["type"] == "stage"]
    assert stages == ["downloading", "postprocessing", "uploading"], [
        (e["type"], e.get("stage"), e.get("progress"), e.get("seq"), e.get("downloaded_bytes"))
        for e in watched.events[1:]
    ]

    progress = watched.progress_values()
    assert progress == sorted(progress), progress
    assert watched.final["status"] == "completed" and watched.final["progress"] == 100
    assert watched.close_code == 1000

    rate, busiest = download_rate(watched)
    assert 2 <= rate <= 10, f"{rate:.1f} events/s while downloading"
    assert busiest <= 10, f"{busiest} events within one second"


async def test_a_playlists_figure_follows_its_entries_bytes(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """A large throttled video, then a short clip: the playlist's figure rises with the
    video's bytes before any entry has ended, and the video weighs more than the clip."""
    key = stack.key()
    large, clip = "honestBar02", "hnstClip001"
    throttled_copy(stack.youtube, large, rate=RATE)
    stack.youtube.add_playlist("PLhonestBarFixture000000000001", [large, clip])
    url = stack.youtube.playlist_url("PLhonestBarFixture000000000001")
    small = {"quality": "360p", "include_thumbnail": False, "include_transcription": False}
    parent_id = (await submit(http, key, url, concurrency=1, **small))["job_id"]
    socket = asyncio.create_task(watch(stack.ws_url, parent_id, key=key, within=120))

    samples: list[tuple[float, dict[str, str]]] = []  # the figure, and each entry's status

    async def note(body: dict[str, Any]) -> bool:
        response = await http.get(
            "/api/v1/downloads", params={"parent_id": parent_id}, headers={"X-API-Key": key}
        )
        entries = {e["metadata"]["video_id"]: e["status"] for e in response.json()["items"]}
        samples.append((body["progress"], entries))
        return body["status"] in ("completed", "failed", "canceled")

    final = await wait_for_async(http, key, parent_id, note)
    assert final["status"] == "completed" and final["progress"] == 100.0

    figures = [figure for figure, _ in samples]
    assert all(b >= a for a, b in itertools.pairwise(figures)), figures
    before_any_end = {
        round(figure)
        for figure, entries in samples
        if entries.get(large) == "processing" and entries.get(clip) == "queued"
    }
    assert len(before_any_end - {0}) >= 3, f"it follows the bytes, not the ends: {samples}"
    # The clip is 2 s, the video 8 s: with the video done the playlist is about 80% done.
    video_done = [f for f, entries in samples if entries.get(large) == "completed" and f < 100]
    assert all(f > 60 for f in video_done), f"not half done after the video: {samples}"
    assert max(before_any_end) > 60, f"the video alone moves it most of the way: {samples}"

    # The parent's WebSocket tells the same: its aggregate follows the bytes too.
    watched = await socket
    assert watched.close_code == 1000 and watched.final["status"] == "completed"
    aggregates = [e for e in watched.events if e["type"] == "aggregate"]
    shown = [e["progress"] for e in aggregates]
    assert all(b >= a for a, b in itertools.pairwise(shown)), shown
    while_none_ended = [e["progress"] for e in aggregates if e["children"]["completed"] == 0]
    assert max(while_none_ended) > 60, f"the socket's figure follows the bytes: {shown}"


async def wait_for_async(
    http: httpx.AsyncClient,
    key: str,
    job_id: str,
    condition: Callable[[dict[str, Any]], Awaitable[bool]],
    within: float = 120.0,
) -> dict[str, Any]:
    """Poll a job until `condition(job)` (itself awaited), like faults.wait_for."""
    async with asyncio.timeout(within):
        while True:
            current = await job(http, key, job_id)
            if await condition(current):
                return current
            await asyncio.sleep(0.2)
