"""The downloads API in-process (httpx ASGI transport), on SQLite and on PostgreSQL.

Jobs are enqueued to the real test Redis; no worker consumes them here, so these tests see
the API's own behaviour: validation, ownership, cancel/delete/retry rules and errors.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.jobs.models import Job, JobStatus
from tests.support.factories import KeyFactory

WATCH_URL = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"


async def create(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/downloads", json={"url": WATCH_URL, **body}, headers={"X-API-Key": key}
    )


def set_status(database_url: str, job_id: str, status: JobStatus, **fields: Any) -> None:
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            session.execute(
                update(Job).where(Job.id == uuid.UUID(job_id)).values(status=status, **fields)
            )
    finally:
        engine.dispose()


async def test_create_returns_202_queued_job_with_defaults(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    response = await create(client, key, quality="720p", subtitle_languages=["en", "de"])
    assert response.status_code == 202
    body = response.json()
    uuid.UUID(body["job_id"])
    assert body["status"] == "queued" and body["progress"] == 0
    assert body["options"]["quality"] == "720p"
    assert body["options"]["output_format"] == "mp4"
    assert body["options"]["subtitle_languages"] == ["en", "de"]
    assert body["files"] == [] and body["error"] is None

    fetched = await client.get(f"/api/v1/downloads/{body['job_id']}", headers={"X-API-Key": key})
    assert fetched.status_code == 200
    assert fetched.json()["job_id"] == body["job_id"]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=aqz-KE-bpKQ",
        "https://youtube.com/watch?v=aqz-KE-bpKQ&t=10s",
        "https://m.youtube.com/watch?v=aqz-KE-bpKQ",
        "https://music.youtube.com/watch?v=aqz-KE-bpKQ",
        "https://youtu.be/aqz-KE-bpKQ",
        "https://www.youtube.com/shorts/aqz-KE-bpKQ",
        "https://www.youtube.com/live/aqz-KE-bpKQ",
        "https://www.youtube.com/embed/aqz-KE-bpKQ",
        "https://www.youtube-nocookie.com/embed/aqz-KE-bpKQ",
    ],
)
async def test_accepts_every_youtube_video_url_form(
    client: httpx.AsyncClient, make_key: KeyFactory, url: str
) -> None:
    response = await client.post(
        "/api/v1/downloads", json={"url": url}, headers={"X-API-Key": make_key()}
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "https://vimeo.com/76979871"}, 400, "unsupported_url"),
        ({"url": "https://evil.example/watch?v=aqz-KE-bpKQ"}, 400, "unsupported_url"),
        ({"url": "https://youtube.com.evil.example/watch?v=aqz-KE-bpKQ"}, 400, "unsupported_url"),
        ({"url": "https://www.youtube.com/feed/trending"}, 400, "unsupported_url"),
        ({"url": "https://www.youtube.com/watch?v=short"}, 400, "unsupported_url"),
        # Parsers disagree on these: Python reads www.youtube.com, yt-dlp 127.0.0.1 or so.
        (
            {"url": "https://127.0.0.1\\@www.youtube.com/watch?v=aqz-KE-bpKQ"},
            400,
            "unsupported_url",
        ),
        (
            {"url": "https://www.youtube.com\\@127.0.0.1/watch?v=aqz-KE-bpKQ"},
            400,
            "unsupported_url",
        ),
        ({"url": "https://me:pw@www.youtube.com/watch?v=aqz-KE-bpKQ"}, 400, "unsupported_url"),
        ({"url": "https://127.0.0.1@www.youtube.com/watch?v=aqz-KE-bpKQ"}, 400, "unsupported_url"),
        ({"url": "https://www.you\ttube.com/watch?v=aqz-KE-bpKQ"}, 400, "unsupported_url"),
        ({"url": "https://www.youtube.com/watch?v=aqz-KE-bpKQ\r\nX: y"}, 400, "unsupported_url"),
        ({"url": "https://www.youtube.com/watch?v=aqz-KE-bpKQ\x00"}, 400, "unsupported_url"),
        ({"url": "not a url"}, 422, "validation_error"),
        ({"url": "ftp://www.youtube.com/watch?v=aqz-KE-bpKQ"}, 422, "validation_error"),
        ({"url": "file:///etc/passwd"}, 422, "validation_error"),
        ({"url": "https://www.youtube.com:99999/watch?v=aqz-KE-bpKQ"}, 422, "validation_error"),
        ({"url": "https://www.youtube.com/watch?v=" + "a" * 3000}, 422, "validation_error"),
        ({"url": WATCH_URL, "quality": "4k"}, 422, "validation_error"),
        ({"url": WATCH_URL, "output_format": "avi"}, 422, "validation_error"),
        ({"url": WATCH_URL, "audio_only": "perhaps"}, 422, "validation_error"),
        ({"url": WATCH_URL, "subtitle_languages": ["en; rm -rf"]}, 422, "validation_error"),
        ({"url": WATCH_URL, "subtitle_languages": ["en\n"]}, 422, "validation_error"),
        ({"url": WATCH_URL, "format": "bestvideo", "postprocessors": []}, 422, "validation_error"),
        ({}, 422, "validation_error"),
    ],
)
async def test_bad_input_gets_a_clear_4xx_and_creates_nothing(
    client: httpx.AsyncClient, make_key: KeyFactory, body: dict[str, Any], status: int, code: str
) -> None:
    key = make_key()
    response = await client.post("/api/v1/downloads", json=body, headers={"X-API-Key": key})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    listed = await client.get("/api/v1/downloads", headers={"X-API-Key": key})
    assert listed.json()["total"] == 0


async def test_playlist_options_at_their_defaults_are_accepted_on_a_single_video(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    explicit_defaults = {"skip_existing": False, "max_items": None, "playlist_items": None}
    accepted = await create(client, key, **explicit_defaults)
    assert accepted.status_code == 202, accepted.text
    refused = await create(client, key, skip_existing=True)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_options"


async def test_malformed_json_body_is_a_422(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    response = await client.post(
        "/api/v1/downloads",
        content=b"{not json",
        headers={"X-API-Key": make_key(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/downloads"),
        ("GET", "/api/v1/downloads"),
        ("GET", "/api/v1/downloads/00000000-0000-0000-0000-000000000000"),
        ("DELETE", "/api/v1/downloads/00000000-0000-0000-0000-000000000000"),
        ("POST", "/api/v1/downloads/00000000-0000-0000-0000-000000000000/retry"),
        (
            "GET",
            "/api/v1/downloads/00000000-0000-0000-0000-000000000000/files/00000000-0000-0000-0000-000000000000",
        ),
    ],
)
@pytest.mark.parametrize(
    ("key", "code"),
    [(None, "missing_api_key"), ("", "missing_api_key"), ("yds_wrong", "invalid_api_key")],
)
async def test_every_route_needs_a_valid_key(
    client: httpx.AsyncClient, method: str, path: str, key: str | None, code: str
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    response = await client.request(method, path, json={"url": WATCH_URL}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


async def test_health_and_docs_need_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    docs = await client.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await client.get("/api/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert "/api/v1/downloads" in spec["paths"]


async def test_a_job_is_invisible_to_every_other_key(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    owner, other = make_key("owner"), make_key("other")
    job_id = (await create(client, owner)).json()["job_id"]
    theirs = {"X-API-Key": other}

    for method, path in [
        ("GET", f"/api/v1/downloads/{job_id}"),
        ("DELETE", f"/api/v1/downloads/{job_id}"),
        ("POST", f"/api/v1/downloads/{job_id}/retry"),
        ("GET", f"/api/v1/downloads/{job_id}/files/{uuid.uuid4()}"),
    ]:
        response = await client.request(method, path, headers=theirs)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "job_not_found"
    assert (await client.get("/api/v1/downloads", headers=theirs)).json()["total"] == 0
    mine = await client.get(f"/api/v1/downloads/{job_id}", headers={"X-API-Key": owner})
    assert mine.json()["status"] == "queued", "the other key's DELETE did nothing"


async def test_unknown_and_malformed_job_ids(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    headers = {"X-API-Key": make_key()}
    missing = await client.get(f"/api/v1/downloads/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"
    malformed = await client.get("/api/v1/downloads/12345", headers=headers)
    assert malformed.status_code == 422 and malformed.json()["error"]["code"] == "validation_error"
    unknown_route = await client.get("/api/v1/nothing-here", headers=headers)
    assert unknown_route.status_code == 404 and unknown_route.json()["error"]["code"] == "not_found"


async def test_list_is_newest_first_with_status_filter_and_pagination(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    key = make_key()
    headers = {"X-API-Key": key}
    ids = [(await create(client, key)).json()["job_id"] for _ in range(5)]
    set_status(database_url, ids[1], JobStatus.FAILED, error_code="download_failed")

    page = (await client.get("/api/v1/downloads?limit=2", headers=headers)).json()
    assert page["total"] == 5 and page["limit"] == 2
    assert [j["job_id"] for j in page["items"]] == ids[::-1][:2]
    rest = (await client.get("/api/v1/downloads?limit=2&offset=4", headers=headers)).json()
    assert [j["job_id"] for j in rest["items"]] == [ids[0]]
    failed = (await client.get("/api/v1/downloads?status=failed", headers=headers)).json()
    assert [j["job_id"] for j in failed["items"]] == [ids[1]]
    bad = await client.get("/api/v1/downloads?status=lost", headers=headers)
    assert bad.status_code == 422
    too_many = await client.get("/api/v1/downloads?limit=1000", headers=headers)
    assert too_many.status_code == 422


async def test_delete_cancels_a_queued_job_then_deletes_it(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    headers = {"X-API-Key": make_key()}
    job_id = (
        await client.post("/api/v1/downloads", json={"url": WATCH_URL}, headers=headers)
    ).json()["job_id"]

    canceled = await client.delete(f"/api/v1/downloads/{job_id}", headers=headers)
    assert canceled.status_code == 202
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["completed_at"] is not None

    deleted = await client.delete(f"/api/v1/downloads/{job_id}", headers=headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/downloads/{job_id}", headers=headers)
    assert gone.status_code == 404


async def test_delete_of_a_running_job_requests_a_cooperative_cancel(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    import datetime as dt

    headers = {"X-API-Key": make_key()}
    job_id = (
        await client.post("/api/v1/downloads", json={"url": WATCH_URL}, headers=headers)
    ).json()["job_id"]
    set_status(
        database_url,
        job_id,
        JobStatus.PROCESSING,
        worker_id="w1",
        heartbeat_at=dt.datetime.now(dt.UTC),
    )

    response = await client.delete(f"/api/v1/downloads/{job_id}", headers=headers)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "processing" and body["cancel_requested"] is True


async def test_delete_of_a_running_job_whose_worker_died_cancels_it(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    import datetime as dt

    headers = {"X-API-Key": make_key()}
    job_id = (
        await client.post("/api/v1/downloads", json={"url": WATCH_URL}, headers=headers)
    ).json()["job_id"]
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    set_status(database_url, job_id, JobStatus.PROCESSING, worker_id="dead", heartbeat_at=long_ago)

    response = await client.delete(f"/api/v1/downloads/{job_id}", headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] == "canceled"


async def test_retry_only_for_failed_or_canceled_jobs(
    client: httpx.AsyncClient, make_key: KeyFactory, database_url: str
) -> None:
    headers = {"X-API-Key": make_key()}
    job_id = (
        await client.post("/api/v1/downloads", json={"url": WATCH_URL}, headers=headers)
    ).json()["job_id"]

    queued = await client.post(f"/api/v1/downloads/{job_id}/retry", headers=headers)
    assert queued.status_code == 409 and queued.json()["error"]["code"] == "job_not_retryable"

    set_status(
        database_url,
        job_id,
        JobStatus.FAILED,
        error_code="download_failed",
        error_message="boom",
        attempts=3,
    )
    retried = await client.post(f"/api/v1/downloads/{job_id}/retry", headers=headers)
    assert retried.status_code == 202
    body = retried.json()
    assert body["status"] == "queued" and body["error"] is None and body["attempts"] == 0
