"""/metrics counts what happened across the API and worker processes, and logs carry
request and job ids but no secrets."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.support.jobs import submit, watch
from tests.support.offline_youtube import PRIVATE_VIDEO_ID, SLOW_VIDEO_ID, STANDARD_VIDEO_ID
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_jobs_bytes_requests_and_live_connections(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    headers = {"X-API-Key": key}
    for video_id in (STANDARD_VIDEO_ID, STANDARD_VIDEO_ID, PRIVATE_VIDEO_ID):
        job = await submit(
            http, key, stack.youtube.video_url(video_id), include_transcription=False
        )
        await watch(stack.ws_url, job["job_id"], key=key)
    slow = await submit(http, key, stack.youtube.video_url(SLOW_VIDEO_ID))
    canceled = await http.delete(f"/api/v1/downloads/{slow['job_id']}", headers=headers)
    assert canceled.status_code == 202
    await watch(stack.ws_url, slow["job_id"], key=key)
    await http.get("/api/v1/downloads/00000000-0000-0000-0000-000000000000", headers=headers)

    # One client still watching a queued job while Prometheus scrapes.
    queued = await submit(http, key, stack.youtube.video_url(SLOW_VIDEO_ID))
    async with connect(f"{stack.ws_url}/ws/progress/{queued['job_id']}?api_key={key}") as socket:
        await socket.recv()
        await asyncio.sleep(0.2)
        body = (await http.get("/metrics")).text
        await http.delete(f"/api/v1/downloads/{queued['job_id']}", headers=headers)

    found = samples(body)
    assert found[("yds_jobs_created_total", ())] == 5
    assert found[("yds_jobs_completed_total", ())] == 2
    assert found[("yds_jobs_failed_total", (("error_code", "video_private"),))] == 1
    assert found[("yds_jobs_canceled_total", ())] == 1
    durations = {
        labels: value for (name, labels), value in found.items()
        if name == "yds_job_duration_seconds_count"
    }  # fmt: skip
    assert durations[(("status", "completed"),)] == 2
    assert durations[(("status", "failed"),)] == 1
    # The cancel may reach the job while queued (the API ends it: no run, no duration) or
    # while running (the worker ends it and observes its duration).
    assert durations.get((("status", "canceled"),), 0) <= 1
    assert found[("yds_downloaded_bytes_total", ())] > 2_000_000
    assert found[("yds_stored_bytes_total", ())] > found[("yds_downloaded_bytes_total", ())] / 2
    assert found[("yds_websocket_clients", ())] == 1
    assert found[("yds_queue_depth", ())] + found[("yds_jobs_in_flight", ())] == 1
    post = (("method", "POST"), ("route", "/api/v1/downloads"), ("status", "202"))
    assert found[("yds_http_requests_total", post)] == 5
    missing = (("method", "GET"), ("route", "/api/v1/downloads/{job_id}"), ("status", "404"))
    assert found[("yds_http_requests_total", missing)] == 1


async def test_logs_carry_request_and_job_ids_and_no_secrets(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    response = await http.post(
        "/api/v1/downloads",
        json={"url": stack.youtube.video_url(STANDARD_VIDEO_ID), "include_transcription": False},
        headers={"X-API-Key": key, "X-Request-ID": "trace-me-42"},
    )
    assert response.headers["x-request-id"] == "trace-me-42"
    generated = await http.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    job_id = response.json()["job_id"]
    await watch(stack.ws_url, job_id, key=key, via_query=True)

    # The worker logs the job's end just after publishing it.
    stack.workers[0].wait_for_log(f"job_id={job_id}", timeout=10)
    worker_log = stack.workers[0].log()
    api_log = stack.api.log()
    for secret in (key, key.removeprefix("yds_")):
        assert secret not in api_log and secret not in worker_log
    assert "X-Amz-Signature=" not in api_log + worker_log or "X-Amz-Signature=[redacted]" in api_log


def ended_and_open(found: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    """Every job accounted for: ended (any way), dropped, or still queued or processing."""
    return sum(
        value
        for (name, _labels), value in found.items()
        if name
        in {
            "yds_jobs_completed_total",
            "yds_jobs_failed_total",
            "yds_jobs_canceled_total",
            "yds_jobs_dropped_total",
            "yds_queue_depth",
            "yds_jobs_in_flight",
        }
    )


async def test_every_created_job_is_counted_playlist_entries_and_batches_included(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    before = samples((await http.get("/metrics")).text)[("yds_jobs_created_total", ())]
    playlist = await submit(
        http, key, stack.youtube.playlist_url(), max_items=3, include_transcription=False
    )
    batch = await http.post(
        "/api/v1/batches",
        json={
            "urls": [
                stack.youtube.video_url(STANDARD_VIDEO_ID),
                stack.youtube.video_url(PRIVATE_VIDEO_ID),
            ],
            "include_transcription": False,
        },
        headers={"X-API-Key": key},
    )
    assert batch.status_code == 202, batch.text
    for parent_id in (playlist["job_id"], batch.json()["batch_id"]):
        await watch(stack.ws_url, parent_id, key=key)

    # A parent's end is announced after its last child's: wait for the counters to settle.
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        found = samples((await http.get("/metrics")).text)
        created = found[("yds_jobs_created_total", ())]
        if created == ended_and_open(found) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    # The playlist and its 3 entries; the batch and its 2 URLs.
    assert created - before == 1 + 3 + 1 + 2
    assert created == ended_and_open(found), "created = ended + dropped + queued + processing"
