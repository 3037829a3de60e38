"""The whole path a user takes: real API and Celery worker processes, real yt-dlp and ffmpeg,
YouTube URLs resolved offline to the local media site."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.factories import create_key
from tests.support.faults import throttled_copy
from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import PRIVATE_VIDEO_ID, SLOW_VIDEO_ID, STANDARD_VIDEO_ID
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


def ffprobe(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


async def assert_full_download(stack: Stack, http: httpx.AsyncClient, tmp_path: Path) -> None:
    """Submit a YouTube URL and check every file and field a user gets back."""
    key = stack.key()
    job = await submit(
        http, key, stack.youtube.video_url(STANDARD_VIDEO_ID), subtitle_languages=["en"]
    )
    assert job["status"] == "queued"

    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "completed", watched.final

    done = await fetch_job(http, key, job["job_id"])
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["metadata"]["video_id"] == STANDARD_VIDEO_ID
    assert done["metadata"]["title"].startswith("Big Buck Bunny")
    assert done["metadata"]["channel_name"] == "Blender"
    assert done["metadata"]["upload_date"] == "2024-01-15"
    kinds = {(f["kind"], f["language"], f["format"]) for f in done["files"]}
    assert kinds == {
        ("video", None, "mp4"),
        ("subtitle", "en", "srt"),
        ("subtitle", "en", "vtt"),
        ("subtitle", "en", "txt"),
        ("subtitle", "en", "json"),
        ("thumbnail", None, "jpg"),
        ("metadata", None, "json"),
    }
    assert done["transcripts"]["languages"] == [
        {"language": "en", "source": "manual", "formats": ["srt", "vtt", "txt", "json"]}
    ]
    assert len(done["details"]["format_ids"]) == 2, "video-only and audio-only formats are merged"

    headers = {"X-API-Key": key}
    for stored in done["files"]:
        if stack.s3 is not None:
            assert stored["url"].startswith(stack.s3.endpoint), "S3 files come presigned"
            assert "X-Amz-Signature=" in stored["url"]
        response = await http.get(stored["url"], headers=headers)
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == stored["sha256"]
        assert len(response.content) == stored["size"]
        assert "attachment" in response.headers["content-disposition"]
        if stack.s3 is None:
            # The title "Big Buck Bunny: 60fps / 4K ✓ (offline fixture)", made a file name.
            assert (
                "Big%20Buck%20Bunny%2060fps%204K%20%E2%9C%93%20%28offline%20fixture%29"
                in (response.headers["content-disposition"])
            )
    assert stack.stored_names(job["job_id"]) == {
        f"{STANDARD_VIDEO_ID}.{suffix}"
        for suffix in ("mp4", "en.srt", "en.vtt", "en.txt", "en.json", "jpg", "info.json")
    }
    if stack.s3 is not None:
        await assert_s3_objects(stack, done)

    video = next(f for f in done["files"] if f["kind"] == "video")
    local = tmp_path / "video.mp4"
    local.write_bytes((await http.get(video["url"], headers=headers)).content)
    probe = ffprobe(local)
    codec_types = {s["codec_type"] for s in probe["streams"]}  # type: ignore[attr-defined]
    assert {"video", "audio"} <= codec_types and "subtitle" not in codec_types
    assert abs(float(probe["format"]["duration"]) - done["metadata"]["duration"]) < 1.0  # type: ignore[index]
    assert "mp4" in probe["format"]["format_name"]  # type: ignore[index]

    subtitle = next(f for f in done["files"] if f["format"] == "vtt")
    assert (await http.get(subtitle["url"], headers=headers)).text.startswith("WEBVTT")

    partial = await http.get(video["url"], headers={**headers, "Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == local.read_bytes()[100:200]
    assert partial.headers["content-type"] == "video/mp4"
    file_route = f"/api/v1/downloads/{job['job_id']}/files/{video['id']}"
    if stack.s3 is None:
        head = await http.head(video["url"], headers=headers)
        assert head.status_code == 200 and int(head.headers["content-length"]) == video["size"]
    else:
        redirect = await http.get(file_route, headers=headers)
        assert redirect.status_code == 307 and "X-Amz-Signature=" in redirect.headers["location"]
    assert not (stack.work_dir / job["job_id"]).exists(), "work directory removed"

    deleted = await http.delete(f"/api/v1/downloads/{job['job_id']}", headers=headers)
    assert deleted.status_code == 204
    assert stack.stored_names(job["job_id"]) == set(), "deleting a job deletes its files"
    assert (await http.get(file_route, headers=headers)).status_code == 404
    assert (await http.get(video["url"], headers=headers)).status_code in (403, 404)


async def assert_s3_objects(stack: Stack, done: dict[str, Any]) -> None:
    """Each object has the recorded size, and its sha256 in its metadata."""
    assert stack.s3 is not None
    client = stack.s3.client()
    for stored in done["files"]:
        key = (
            f"{stack.env['S3_PREFIX']}/{done['job_id']}/"
            + stored["url"].split("?")[0].rsplit("/", 1)[1]
        )
        head = client.head_object(Bucket=stack.env["S3_BUCKET_NAME"], Key=key)
        assert head["ContentLength"] == stored["size"]
        assert head["Metadata"]["sha256"] == stored["sha256"]


async def test_youtube_url_completes_with_media_subtitles_thumbnail_and_metadata(
    stack: Stack, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await assert_full_download(stack, http, tmp_path)


async def test_the_same_download_stored_in_s3(s3_stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=s3_stack.base_url, timeout=30) as client:
        await assert_full_download(s3_stack, client, tmp_path)


async def test_the_same_download_on_postgresql(pg_stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=pg_stack.base_url, timeout=30) as client:
        await assert_full_download(pg_stack, client, tmp_path)


async def test_websocket_sends_snapshot_monotonic_progress_then_completed_and_closes(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    url = throttled_copy(stack.youtube, "wsProgress1", rate=384 * 1024)
    job = await submit(http, key, url, include_transcription=False)

    watched = await watch(stack.ws_url, job["job_id"], key=key, via_query=True)

    assert watched.events[0]["type"] == "snapshot"
    assert watched.events[0]["job"]["job_id"] == job["job_id"]
    progress = watched.progress_values()
    assert progress == sorted(progress), progress
    updates = [e for e in watched.events[1:] if e["type"] == "progress"]
    assert len(updates) >= 5, "progress is pushed live while downloading"
    assert len({round(e["progress"]) for e in updates}) >= 5, "the figure moves, it does not jump"
    stages = [e["stage"] for e in watched.events[1:] if e["type"] == "stage"]
    assert stages[: stages.index("downloading") + 1][-1] == "downloading"
    assert watched.final["type"] == "status" and watched.final["status"] == "completed"
    assert watched.final["progress"] == 100
    assert watched.close_code == 1000
    assert key not in stack.api.log(), "the key in the query string is redacted from logs"
    assert "api_key=[redacted]" in stack.api.log()


async def test_cancel_stops_a_running_download_within_seconds_and_leaves_no_files(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    job = await submit(
        http, key, stack.youtube.video_url(SLOW_VIDEO_ID), include_transcription=False
    )
    job_id = job["job_id"]
    await watch(stack.ws_url, job_id, key=key, until=lambda e: e.get("progress", 0) > 10)

    requested = time.monotonic()
    response = await http.delete(f"/api/v1/downloads/{job_id}", headers={"X-API-Key": key})
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True

    watched = await watch(stack.ws_url, job_id, key=key, within=10)
    elapsed = time.monotonic() - requested
    assert watched.final["status"] == "canceled"
    assert elapsed < 5, f"cancel took {elapsed:.1f} s"
    body = await fetch_job(http, key, job_id)
    assert body["status"] == "canceled" and body["files"] == []
    assert not (stack.work_dir / job_id).exists(), "partial files removed"
    assert not (stack.storage_dir / job_id).exists()

    hits_before = len(stack.youtube.server.hits_for(SLOW_VIDEO_ID))
    await asyncio.sleep(1.5)
    assert len(stack.youtube.server.hits_for(SLOW_VIDEO_ID)) == hits_before, "yt-dlp stopped"


async def test_private_video_fails_with_its_code(stack: Stack, http: httpx.AsyncClient) -> None:
    key = stack.key()
    job = await submit(http, key, stack.youtube.video_url(PRIVATE_VIDEO_ID))
    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "failed"
    assert watched.final["error"]["code"] == "video_private"
    body = await fetch_job(http, key, job["job_id"])
    assert body["error"]["code"] == "video_private"
    assert "Private video" in body["error"]["message"]
    assert body["files"] == []


async def test_retry_of_a_failed_job_runs_it_again_to_completion(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    video_id = "retryVid001"
    entry = copy.deepcopy(stack.youtube.catalog["videos"][STANDARD_VIDEO_ID])
    stack.youtube.set_entry(video_id, {**entry, "id": video_id, "error": "removed"})
    job = await submit(http, key, stack.youtube.video_url(video_id), include_transcription=False)
    failed = await watch(stack.ws_url, job["job_id"], key=key)
    assert failed.final["status"] == "failed"
    assert failed.final["error"]["code"] == "video_unavailable"

    stack.youtube.update_entry(video_id, error=None)
    response = await http.post(
        f"/api/v1/downloads/{job['job_id']}/retry", headers={"X-API-Key": key}
    )
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["error"] is None
    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "completed"
    body = await fetch_job(http, key, job["job_id"])
    assert {f["kind"] for f in body["files"]} == {"video", "thumbnail", "metadata"}


async def test_websocket_rejects_missing_key_and_other_keys_jobs(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    owner, other = stack.key("owner"), stack.key("other")
    job = await submit(http, owner, stack.youtube.video_url(STANDARD_VIDEO_ID))
    write_only = create_key(stack.database_url, "writer", scopes=["downloads:write"]).secret
    revoked = create_key(stack.database_url, "revoked")
    await revoke(stack, revoked.api_key.id)

    assert (await watch(stack.ws_url, job["job_id"], key=None)).close_code == 4401
    assert (await watch(stack.ws_url, job["job_id"], key="yds_not-a-real-key")).close_code == 4401
    assert (await watch(stack.ws_url, job["job_id"], key=revoked.secret)).close_code == 4401
    assert (await watch(stack.ws_url, job["job_id"], key=write_only)).close_code == 4403
    denied = await watch(stack.ws_url, job["job_id"], key=other)
    assert denied.close_code == 4404 and denied.events == []
    assert (await watch(stack.ws_url, "not-a-uuid", key=owner)).close_code == 4404
    foreign = await watch(
        stack.ws_url, job["job_id"], key=owner, headers={"Origin": "https://evil.example"}
    )
    assert foreign.close_code == 4403 and foreign.events == []
    same_site = await watch(
        stack.ws_url, job["job_id"], key=owner, headers={"Origin": stack.base_url}
    )
    assert same_site.events[0]["type"] == "snapshot"


async def revoke(stack: Stack, key_id: uuid.UUID) -> None:
    admin = create_key(stack.database_url, "admin", scopes=["admin"]).secret
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        response = await client.delete(
            f"/api/v1/admin/api-keys/{key_id}", headers={"X-API-Key": admin}
        )
        assert response.status_code == 204


async def test_detailed_health_sees_database_redis_storage_and_worker(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    response = await http.get("/health/detailed")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert set(checks) == {"database", "redis", "storage", "worker"}
    assert all(check["ok"] for check in checks.values())
