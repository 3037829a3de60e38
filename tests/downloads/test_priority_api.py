"""A download's priority through the API in-process, on SQLite and PostgreSQL: it is kept on
the job (and inherited by a batch's entries), shown in its JSON, refused when unknown, and
its message waits in the broker queue of that priority, a retry's too."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis

from app.core.config import Settings
from app.jobs.models import JobStatus
from tests.downloads.test_api import WATCH_URL, create, set_status
from tests.support.factories import KeyFactory

QUEUES = {"high": "downloads.high", "normal": "downloads", "low": "downloads.low"}


def queued_ids(settings: Settings, queue: str) -> set[str]:
    """The task ids (= job ids) of the messages waiting in a broker queue."""
    client = redis.Redis.from_url(settings.effective_broker_url)
    try:
        return {json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)}
    finally:
        client.close()


def queue_of(settings: Settings, job_id: str) -> list[str]:
    return [name for name, queue in QUEUES.items() if job_id in queued_ids(settings, queue)]


@pytest.mark.parametrize("priority", ["high", "normal", "low"])
async def test_the_job_waits_in_the_queue_of_its_priority(
    client: httpx.AsyncClient, make_key: KeyFactory, settings: Settings, priority: str
) -> None:
    key = make_key()
    response = await create(client, key, priority=priority)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["priority"] == priority
    assert queue_of(settings, job["job_id"]) == [priority]
    fetched = await client.get(f"/api/v1/downloads/{job['job_id']}", headers={"X-API-Key": key})
    assert fetched.json()["priority"] == priority


async def test_normal_is_the_default(
    client: httpx.AsyncClient, make_key: KeyFactory, settings: Settings
) -> None:
    job = (await create(client, make_key())).json()
    assert job["priority"] == "normal"
    assert queue_of(settings, job["job_id"]) == ["normal"]


@pytest.mark.parametrize("priority", ["urgent", "HIGH", 1, None])
async def test_an_unknown_priority_is_a_validation_error_and_creates_nothing(
    client: httpx.AsyncClient, make_key: KeyFactory, priority: Any
) -> None:
    key = make_key()
    response = await create(client, key, priority=priority)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    listed = await client.get("/api/v1/downloads", headers={"X-API-Key": key})
    assert listed.json()["total"] == 0


async def test_a_retry_keeps_the_priority(
    client: httpx.AsyncClient, make_key: KeyFactory, settings: Settings
) -> None:
    key = make_key()
    job_id = (await create(client, key, priority="low")).json()["job_id"]
    redis.Redis.from_url(settings.effective_broker_url).delete(*QUEUES.values())
    set_status(settings.database_url, job_id, JobStatus.FAILED)

    retried = await client.post(f"/api/v1/downloads/{job_id}/retry", headers={"X-API-Key": key})

    assert retried.status_code == 202, retried.text
    assert retried.json()["priority"] == "low"
    assert queue_of(settings, job_id) == ["low"]


async def test_a_batchs_entries_inherit_its_priority(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    response = await client.post(
        "/api/v1/batches",
        json={"urls": [WATCH_URL, "https://youtu.be/aqz-KE-bpKQ"], "priority": "high"},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]
    batch = await client.get(f"/api/v1/downloads/{batch_id}", headers={"X-API-Key": key})
    assert batch.json()["priority"] == "high"
    entries = await client.get(
        "/api/v1/downloads", params={"parent_id": batch_id}, headers={"X-API-Key": key}
    )
    assert [entry["priority"] for entry in entries.json()["items"]] == ["high", "high"]
