"""Recovering from failures through the API in-process, on SQLite and on PostgreSQL: a
key's failed and canceled jobs grouped by error code, and the bulk retry with its filter,
its bound and the key's quota. Jobs are submitted through the API and ended as a worker
would end them; no worker runs, so a retried job stays queued for the test to see."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.auth.service import KeyLimits
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.jobs.hints import FAILURE_HINTS
from app.jobs.models import Job, JobStatus
from tests.support.factories import KeyFactory, create_key

WATCH = "https://www.youtube.com/watch?v={}"
RETRY = "/api/v1/downloads/retry"
FAILURES = "/api/v1/downloads/failures"


def ended(database_url: str, job_id: str, status: JobStatus, **fields: Any) -> None:
    """End the job as a worker (or a cancel) would have."""
    values: dict[str, Any] = {"completed_at": dt.datetime.now(dt.UTC), **fields}
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            session.execute(
                update(Job).where(Job.id == uuid.UUID(job_id)).values(status=status, **values)
            )
    finally:
        engine.dispose()


async def submit(client: httpx.AsyncClient, key: str, video: str) -> str:
    response = await client.post(
        "/api/v1/downloads", json={"url": WATCH.format(video)}, headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def failed(
    client: httpx.AsyncClient,
    database_url: str,
    key: str,
    video: str,
    code: str | None,
    *,
    ago: float = 0,
) -> str:
    job_id = await submit(client, key, video)
    ended(
        database_url,
        job_id,
        JobStatus.FAILED,
        error_code=code,
        error_message=f"{code} happened to {video}",
        title=f"Title of {video}",
        completed_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=ago),
    )
    return job_id


async def canceled(client: httpx.AsyncClient, database_url: str, key: str, video: str) -> str:
    job_id = await submit(client, key, video)
    ended(database_url, job_id, JobStatus.CANCELED)
    return job_id


async def status_of(client: httpx.AsyncClient, key: str, job_id: str) -> str:
    response = await client.get(f"/api/v1/downloads/{job_id}", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def retry(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post(RETRY, json=body, headers={"X-API-Key": key})


async def test_failures_are_grouped_by_code_with_the_newest_sample_and_a_hint(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key, other = make_key("mine"), make_key("theirs")
    await failed(client, database_url, key, "privateOld1", "video_private", ago=30)
    newest = await failed(client, database_url, key, "privateNew1", "video_private", ago=1)
    await failed(client, database_url, key, "networkErr1", "network_error", ago=5)
    await failed(client, database_url, key, "noCodeAtAll", None, ago=5)
    stopped = await canceled(client, database_url, key, "canceledVd1")
    done = await submit(client, key, "completedV1")
    ended(database_url, done, JobStatus.COMPLETED)
    await submit(client, key, "stillQueued")
    theirs = await failed(client, database_url, other, "theirVideo1", "geo_restricted")

    response = await client.get(FAILURES, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 5
    groups = {group["code"]: group for group in body["groups"]}
    assert body["groups"][0]["code"] == "video_private"  # the most frequent first
    assert {code: group["count"] for code, group in groups.items()} == {
        "video_private": 2,
        "network_error": 1,
        "unknown": 1,
        "canceled": 1,
    }
    private = groups["video_private"]
    assert private["hint"] == FAILURE_HINTS["video_private"]
    assert private["sample"]["job_id"] == newest
    assert private["sample"]["url"] == WATCH.format("privateNew1")
    assert private["sample"]["title"] == "Title of privateNew1"
    assert private["sample"]["message"] == "video_private happened to privateNew1"
    assert dt.datetime.fromisoformat(private["sample"]["at"]) > dt.datetime.now(
        dt.UTC
    ) - dt.timedelta(minutes=2)
    assert groups["canceled"]["sample"]["job_id"] == stopped
    assert "retry" in groups["canceled"]["hint"]
    assert groups["unknown"]["hint"] is None

    # Another key sees only its own failure, and none of this key's.
    their_view = (await client.get(FAILURES, headers={"X-API-Key": other})).json()
    assert their_view["total"] == 1
    assert [(g["code"], g["sample"]["job_id"]) for g in their_view["groups"]] == [
        ("geo_restricted", theirs)
    ]
    nothing = (await client.get(FAILURES, headers={"X-API-Key": make_key("new")})).json()
    assert nothing == {"total": 0, "groups": []}


async def test_a_retry_takes_only_the_keys_jobs_that_match_the_filter(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key, other = make_key("mine"), make_key("theirs")
    private = [
        await failed(client, database_url, key, "privateOne1", "video_private"),
        await failed(client, database_url, key, "privateTwo1", "video_private"),
    ]
    network = await failed(client, database_url, key, "networkErr1", "network_error")
    old_network = await failed(client, database_url, key, "networkOld1", "network_error")
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    ended(database_url, old_network, JobStatus.FAILED, created_at=two_hours_ago)
    stopped = await canceled(client, database_url, key, "canceledVd1")
    theirs = await failed(client, database_url, other, "theirPriv01", "video_private")

    by_code = await retry(client, key, error_codes=["video_private"])
    assert by_code.status_code == 200, by_code.text
    outcome = by_code.json()
    assert (outcome["matched"], outcome["retried"], outcome["not_retried"]) == (2, 2, 0)
    assert sorted(outcome["retried_ids"]) == sorted(private)
    assert outcome["more"] is False and outcome["skipped"] == []
    assert [await status_of(client, key, job) for job in private] == ["queued", "queued"]
    assert await status_of(client, key, network) == "failed"
    assert await status_of(client, key, stopped) == "canceled"
    assert await status_of(client, other, theirs) == "failed"  # the other key's is untouched

    only_canceled = (await retry(client, key, status=["canceled"])).json()
    assert only_canceled["retried_ids"] == [stopped]
    assert await status_of(client, key, stopped) == "queued"

    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    too_new = (await retry(client, key, created_since=future)).json()
    assert (too_new["matched"], too_new["retried"]) == (0, 0)
    assert await status_of(client, key, network) == "failed"
    an_hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None)
    recent = (await retry(client, key, created_since=an_hour_ago.isoformat())).json()  # UTC
    assert recent["retried_ids"] == [network]
    assert await status_of(client, key, network) == "queued"
    assert await status_of(client, key, old_network) == "failed"

    everything = (await retry(client, key)).json()
    assert everything["retried_ids"] == [old_network]
    assert await status_of(client, key, old_network) == "queued"
    assert await status_of(client, other, theirs) == "failed"

    # The other key retries its own, and nothing of the first key's comes back again.
    assert (await retry(client, other)).json()["retried_ids"] == [theirs]
    listed = await client.get(
        "/api/v1/downloads", params={"status": "queued"}, headers={"X-API-Key": key}
    )
    assert listed.json()["total"] == 5


async def test_a_retry_is_bounded_and_says_when_more_remain(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    jobs = [
        await failed(client, database_url, key, f"boundedVd{n}1", "timeout", ago=10 - n)
        for n in range(3)
    ]
    first = (await retry(client, key, limit=2)).json()
    assert (first["matched"], first["retried"], first["more"], first["limit"]) == (2, 2, True, 2)
    assert first["retried_ids"] == jobs[:2]  # the oldest first
    second = (await retry(client, key, limit=2)).json()
    assert (second["matched"], second["retried"], second["more"]) == (1, 1, False)
    assert second["retried_ids"] == jobs[2:]
    assert [await status_of(client, key, job) for job in jobs] == ["queued"] * 3
    assert (await retry(client, key)).json()["limit"] == 100  # the cap, unless asked for less


async def test_a_retry_keeps_to_the_keys_active_jobs_quota(
    client: httpx.AsyncClient, database_url: str
) -> None:
    issued = create_key(database_url, "small", limits=KeyLimits(max_active_jobs=3))
    key = issued.secret
    jobs = [
        await failed(client, database_url, key, f"quotaVid0{n}1", "throttled") for n in range(3)
    ]
    await submit(client, key, "stillQueued")  # one of the three active slots is taken

    outcome = (await retry(client, key)).json()
    assert (outcome["matched"], outcome["retried"], outcome["not_retried"]) == (3, 2, 1)
    assert outcome["retried_ids"] == jobs[:2]
    assert [skip["job_id"] for skip in outcome["skipped"]] == [jobs[2]]
    assert outcome["skipped"][0]["error"]["code"] == "quota_exceeded"
    assert await status_of(client, key, jobs[2]) == "failed"


async def test_a_single_retry_keeps_to_the_keys_active_jobs_quota_too(
    client: httpx.AsyncClient, database_url: str
) -> None:
    key = create_key(database_url, "one", limits=KeyLimits(max_active_jobs=1)).secret
    headers = {"X-API-Key": key}
    job = await failed(client, database_url, key, "quotaOne001", "throttled")
    busy = await submit(client, key, "quotaBusy01")  # the key's only active slot

    refused = await client.post(f"/api/v1/downloads/{job}/retry", headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert await status_of(client, key, job) == "failed"  # nothing of the retry is kept

    assert (await client.delete(f"/api/v1/downloads/{busy}", headers=headers)).status_code == 202
    retried = await client.post(f"/api/v1/downloads/{job}/retry", headers=headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "queued"


async def test_one_entry_of_an_ended_family_retried_on_its_own_reopens_the_family(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    headers = {"X-API-Key": key}
    urls = [WATCH.format(video) for video in ("soloFail001", "soloDone001")]
    batch = await client.post("/api/v1/batches", json={"urls": urls}, headers=headers)
    assert batch.status_code == 202, batch.text
    parent = batch.json()["batch_id"]
    entry, done = (item["job_id"] for item in batch.json()["accepted"])
    ended(database_url, entry, JobStatus.FAILED, error_code="network_error")
    ended(database_url, done, JobStatus.COMPLETED)
    ended(database_url, parent, JobStatus.COMPLETED, heartbeat_at=None)

    retried = await client.post(f"/api/v1/downloads/{entry}/retry", headers=headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "queued"
    # The family runs again for it (and ends again with its outcome), its other entry kept.
    assert await status_of(client, key, parent) == "processing"
    assert await status_of(client, key, done) == "completed"
    again = await client.post(f"/api/v1/downloads/{entry}/retry", headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_not_retryable"


async def test_a_familys_entries_are_retried_by_code_and_the_family_runs_again(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    headers = {"X-API-Key": key}
    urls = [WATCH.format(video) for video in ("entryPriv01", "entryNet001", "entryDone01")]
    batch = await client.post("/api/v1/batches", json={"urls": urls}, headers=headers)
    assert batch.status_code == 202, batch.text
    parent = batch.json()["batch_id"]
    private, network, done = (item["job_id"] for item in batch.json()["accepted"])
    ended(database_url, private, JobStatus.FAILED, error_code="video_private")
    ended(database_url, network, JobStatus.FAILED, error_code="network_error")
    ended(database_url, done, JobStatus.COMPLETED)
    ended(database_url, parent, JobStatus.COMPLETED, heartbeat_at=None)

    # The key's own submissions: the batch completed, so nothing failed at that level.
    assert (await client.get(FAILURES, headers=headers)).json()["total"] == 0
    entries = (await client.get(FAILURES, params={"parent_id": parent}, headers=headers)).json()
    assert {g["code"]: g["count"] for g in entries["groups"]} == {
        "video_private": 1,
        "network_error": 1,
    }

    outcome = (await retry(client, key, parent_id=parent, error_codes=["network_error"])).json()
    assert outcome["retried_ids"] == [network] and outcome["not_retried"] == 0
    assert await status_of(client, key, network) == "queued"
    assert await status_of(client, key, private) == "failed"
    assert await status_of(client, key, done) == "completed"
    assert await status_of(client, key, parent) == "processing"  # it runs again, for that one

    # Another key cannot see nor retry the family's entries.
    other = {"X-API-Key": make_key("theirs")}
    hidden = await client.get(FAILURES, params={"parent_id": parent}, headers=other)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "job_not_found"
    refused = await client.post(RETRY, json={"parent_id": parent}, headers=other)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "job_not_found"
    assert await status_of(client, key, private) == "failed"


async def test_an_entry_of_a_family_still_running_is_retried_as_its_own_retry_would(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    headers = {"X-API-Key": key}
    urls = [WATCH.format(video) for video in ("runningEnt1", "runningEnt2")]
    batch = (await client.post("/api/v1/batches", json={"urls": urls}, headers=headers)).json()
    parent = batch["batch_id"]
    broken, waiting = (item["job_id"] for item in batch["accepted"])
    ended(database_url, broken, JobStatus.FAILED, error_code="timeout")

    outcome = (await retry(client, key, parent_id=parent)).json()
    assert (outcome["retried"], outcome["retried_ids"]) == (1, [broken])
    assert await status_of(client, key, broken) == "queued"
    assert await status_of(client, key, waiting) == "queued"
    assert await status_of(client, key, parent) == "processing"


async def test_a_failed_batch_is_retried_as_one_job_that_runs_its_failed_entries_again(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    headers = {"X-API-Key": key}
    urls = [WATCH.format(video) for video in ("batchFail01", "batchFail02")]
    batch = (await client.post("/api/v1/batches", json={"urls": urls}, headers=headers)).json()
    parent = batch["batch_id"]
    entries = [item["job_id"] for item in batch["accepted"]]
    for entry in entries:
        ended(database_url, entry, JobStatus.FAILED, error_code="network_error")
    ended(database_url, parent, JobStatus.FAILED, error_code="all_entries_failed")

    groups = (await client.get(FAILURES, headers=headers)).json()["groups"]
    assert [(g["code"], g["count"], g["sample"]["job_id"]) for g in groups] == [
        ("all_entries_failed", 1, parent)
    ]
    outcome = (await retry(client, key, error_codes=["all_entries_failed"])).json()
    assert (outcome["retried"], outcome["retried_ids"]) == (1, [parent])
    family = (await client.get(f"/api/v1/downloads/{parent}", headers=headers)).json()
    assert family["status"] == "processing" and family["error"] is None
    assert [await status_of(client, key, entry) for entry in entries] == ["queued", "queued"]
    assert (await client.get(FAILURES, headers=headers)).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"status": ["completed"]},
        {"status": []},
        {"error_codes": ["Not A Code!"]},
        {"error_codes": []},
        {"error_codes": "video_private"},
        {"created_since": "yesterday"},
        {"parent_id": "not-a-uuid"},
        {"limit": 0},
        {"limit": 101},
        {"everything": True},
    ],
)
async def test_a_bad_filter_is_a_validation_error(
    client: httpx.AsyncClient, make_key: KeyFactory, body: dict[str, Any]
) -> None:
    response = await retry(client, make_key(), **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_scopes_and_keys_are_checked(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    reader = make_key("reader", scopes=["downloads:read"])
    assert (await client.get(FAILURES, headers={"X-API-Key": reader})).status_code == 200
    refused = await retry(client, reader)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    assert (await client.post(RETRY, json={})).status_code == 401
    bad = await client.get(FAILURES, params={"parent_id": "nope"}, headers={"X-API-Key": reader})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
