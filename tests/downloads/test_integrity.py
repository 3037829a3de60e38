"""Nothing damaged is served as whole: stored files are verified while they stream, checked
by the integrity scrub (marked corrupt or missing, counted in /metrics) and re-fetched by a
retry; and Range errors answer in the documented error shape, on local disk and on S3.
Real API and worker processes, real yt-dlp and ffmpeg, moto's S3 server on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery

from app.core.celery_app import MAINTENANCE_QUEUE, SCRUB_TASK
from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

Job = dict[str, Any]


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


async def completed_job(stack: Stack, http: httpx.AsyncClient, key: str) -> Job:
    job = await submit(http, key, stack.youtube.video_url(STANDARD_VIDEO_ID))
    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "completed", watched.final
    return await fetch_job(http, key, job["job_id"])


def file_of(job: Job, kind: str) -> dict[str, Any]:
    return next(f for f in job["files"] if f["kind"] == kind)


def object_key(stack: Stack, job: Job, stored: dict[str, Any]) -> str:
    """The S3 key of a stored file, read from its presigned URL."""
    name = stored["url"].split("?")[0].rsplit("/", 1)[1]
    return f"{stack.env['S3_PREFIX']}/{job['job_id']}/{name}"


def local_path(stack: Stack, job: Job, name_suffix: str) -> Path:
    return stack.storage_dir / str(job["job_id"]) / f"{STANDARD_VIDEO_ID}{name_suffix}"


def flip_a_byte(path: Path) -> None:
    """Damage the file in place, keeping its size (bit rot, not truncation)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def run_scrub(stack: Stack) -> None:
    """Send the scrub task to the stack's worker, as beat does."""
    sender = Celery(broker=stack.env["REDIS_URL"])
    try:
        sender.send_task(SCRUB_TASK, queue=MAINTENANCE_QUEUE)
    finally:
        sender.close()


async def job_until(
    http: httpx.AsyncClient, key: str, job_id: str, ready: Callable[[Job], bool]
) -> Job:
    deadline = time.monotonic() + 60
    while True:
        job = await fetch_job(http, key, job_id)
        if ready(job):
            return job
        assert time.monotonic() < deadline, f"the job never got there: {job}"
        await asyncio.sleep(0.2)


async def metric(http: httpx.AsyncClient, line_start: str) -> float:
    text = (await http.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith(line_start))
    return float(line.rsplit(" ", 1)[1])


def states(job: Job) -> dict[str, str]:
    return {f["kind"]: f["state"] for f in job["files"]}


async def test_the_scrub_marks_corrupt_and_missing_files_and_retry_re_fetches_only_those(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    headers = {"X-API-Key": key}
    done = await completed_job(stack, http, key)
    assert done["damaged_files"] == 0 and set(states(done).values()) == {"ok"}
    intact = file_of(done, "metadata")
    intact_mtime = local_path(stack, done, ".info.json").stat().st_mtime_ns
    flip_a_byte(local_path(stack, done, ".mp4"))
    local_path(stack, done, ".jpg").unlink()

    run_scrub(stack)
    damaged = await job_until(http, key, done["job_id"], lambda job: job["damaged_files"] == 2)

    assert damaged["status"] == "completed"
    assert states(damaged) == {
        "video": "corrupt",
        "thumbnail": "missing",
        "metadata": "ok",
        "subtitle": "ok",
    }
    assert await metric(http, 'yds_damaged_files{state="corrupt"}') == 1
    assert await metric(http, 'yds_damaged_files{state="missing"}') == 1
    refused = await http.get(file_of(damaged, "video")["url"], headers=headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "file_corrupt"
    gone = await http.get(file_of(damaged, "thumbnail")["url"], headers=headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "file_not_found"

    retried = await http.post(f"/api/v1/downloads/{done['job_id']}/retry", headers=headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "queued"
    watched = await watch(stack.ws_url, done["job_id"], key=key)
    assert watched.final["status"] == "completed", watched.final

    repaired = await fetch_job(http, key, done["job_id"])
    assert repaired["damaged_files"] == 0 and set(states(repaired).values()) == {"ok"}
    for kind in ("video", "thumbnail"):
        stored = file_of(repaired, kind)
        served = await http.get(stored["url"], headers=headers)
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == stored["sha256"]
        assert len(served.content) == stored["size"]
    assert file_of(repaired, "metadata") == intact, "an intact file keeps its row"
    assert local_path(stack, done, ".info.json").stat().st_mtime_ns == intact_mtime, (
        "an intact file is not stored again"
    )
    assert await metric(http, 'yds_damaged_files{state="corrupt"}') == 0
    assert await metric(http, 'yds_damaged_files{state="missing"}') == 0


async def test_a_completed_job_with_intact_files_is_not_retryable(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    done = await completed_job(stack, http, key)
    response = await http.post(
        f"/api/v1/downloads/{done['job_id']}/retry", headers={"X-API-Key": key}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_not_retryable"


async def test_s3_objects_replaced_or_deleted_are_found_by_the_scrub_and_re_fetched(
    s3_stack: Stack,
) -> None:
    assert s3_stack.s3 is not None
    s3 = s3_stack.s3.client()
    bucket = s3_stack.env["S3_BUCKET_NAME"]
    key = s3_stack.key()
    async with httpx.AsyncClient(base_url=s3_stack.base_url, timeout=30) as http:
        done = await completed_job(s3_stack, http, key)
        video, thumbnail = file_of(done, "video"), file_of(done, "thumbnail")
        s3.put_object(Bucket=bucket, Key=object_key(s3_stack, done, video), Body=b"not a video")
        s3.delete_object(Bucket=bucket, Key=object_key(s3_stack, done, thumbnail))

        run_scrub(s3_stack)
        damaged = await job_until(http, key, done["job_id"], lambda job: job["damaged_files"] == 2)

        assert states(damaged)["video"] == "corrupt" and states(damaged)["thumbnail"] == "missing"
        assert await metric(http, 'yds_damaged_files{state="corrupt"}') == 1
        route = f"/api/v1/downloads/{done['job_id']}/files/{video['id']}"
        refused = await http.get(route, headers={"X-API-Key": key})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "file_corrupt"

        retried = await http.post(
            f"/api/v1/downloads/{done['job_id']}/retry", headers={"X-API-Key": key}
        )
        assert retried.status_code == 202, retried.text
        watched = await watch(s3_stack.ws_url, done["job_id"], key=key)
        assert watched.final["status"] == "completed", watched.final

        repaired = await fetch_job(http, key, done["job_id"])
        assert repaired["damaged_files"] == 0
        for kind in ("video", "thumbnail"):
            stored = file_of(repaired, kind)
            served = await http.get(stored["url"])
            assert served.status_code == 200
            assert hashlib.sha256(served.content).hexdigest() == stored["sha256"]
            head = s3.head_object(Bucket=bucket, Key=object_key(s3_stack, repaired, stored))
            assert head["Metadata"]["sha256"] == stored["sha256"]
        assert await metric(http, 'yds_damaged_files{state="corrupt"}') == 0


async def test_a_file_corrupted_on_disk_aborts_the_transfer_and_is_marked_corrupt(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    headers = {"X-API-Key": key}
    done = await completed_job(stack, http, key)
    video = file_of(done, "video")
    flip_a_byte(local_path(stack, done, ".mp4"))

    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("GET", video["url"], headers=headers) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                received.extend(chunk)
    assert len(received) < video["size"], "the transfer was cut short, not completed"

    marked = await fetch_job(http, key, done["job_id"])
    assert states(marked)["video"] == "corrupt" and marked["damaged_files"] == 1
    again = await http.get(video["url"], headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "file_corrupt"


async def test_a_file_truncated_on_disk_is_refused_and_marked_corrupt(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    key = stack.key()
    done = await completed_job(stack, http, key)
    path = local_path(stack, done, ".mp4")
    path.write_bytes(path.read_bytes()[:1000])

    response = await http.get(file_of(done, "video")["url"], headers={"X-API-Key": key})

    assert response.status_code == 409 and response.json()["error"]["code"] == "file_corrupt"
    assert states(await fetch_job(http, key, done["job_id"]))["video"] == "corrupt"


_completed: dict[str, tuple[str, Job]] = {}


@pytest.fixture(params=["local", "s3"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Stack, str, Job]]:
    """A stack (local disk or S3) and a completed job of it, shared by the range tests."""
    stack: Stack = request.getfixturevalue("stack" if request.param == "local" else "s3_stack")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        if stack.base_url not in _completed:
            key = stack.key()
            _completed[stack.base_url] = (key, await completed_job(stack, http, key))
    key, job = _completed[stack.base_url]
    yield stack, key, job


async def get_range(
    stack: Stack, key: str, job: Job, range_header: str | None, *, follow: bool = True
) -> tuple[httpx.Response, dict[str, Any]]:
    """GET the job's video with `range_header`, following a redirect to S3 as a browser does."""
    video = file_of(job, "video")
    route = f"/api/v1/downloads/{job['job_id']}/files/{video['id']}"
    headers = {"X-API-Key": key} | ({"Range": range_header} if range_header else {})
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.get(route, headers=headers, follow_redirects=follow)
    return response, video


@pytest.mark.parametrize("range_header", ["bytes={size}-", "bytes={size}-{beyond}", "bytes=-0"])
async def test_an_unsatisfiable_range_is_416_with_the_size(
    served: tuple[Stack, str, Job], range_header: str
) -> None:
    stack, key, job = served
    size = file_of(job, "video")["size"]
    header = range_header.format(size=size, beyond=size + 10)

    response, _ = await get_range(stack, key, job, header)

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize(
    "range_header", ["bytes=", "bytes=abc", "bytes=10-5", "bytes=--3", "bytes=0-1,x"]
)
async def test_a_malformed_byte_range_is_400(
    served: tuple[Stack, str, Job], range_header: str
) -> None:
    stack, key, job = served

    response, _ = await get_range(stack, key, job, range_header)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_range"


@pytest.mark.parametrize("range_header", ["bytes=0-9", "bytes=-10", "bytes=100-199"])
async def test_one_satisfiable_range_is_206(
    served: tuple[Stack, str, Job], range_header: str
) -> None:
    stack, key, job = served
    whole, video = await get_range(stack, key, job, None)
    first, _, last = range_header.removeprefix("bytes=").partition("-")
    expected = (
        whole.content[-int(last) :] if not first else whole.content[int(first) : int(last) + 1]
    )

    response, _ = await get_range(stack, key, job, range_header)

    assert response.status_code == 206
    assert response.content == expected
    assert response.headers["content-range"].endswith(f"/{video['size']}")


@pytest.mark.parametrize("range_header", ["items=0-1", "bytes=0-1,4-5"])
async def test_another_unit_or_several_ranges_get_the_whole_file(
    served: tuple[Stack, str, Job], range_header: str
) -> None:
    """RFC 9110 lets a server ignore Range: other units and multi-range requests are answered
    with the whole (verified) file rather than a multipart body. With S3 the API redirects
    and the object store applies its own rules to what it is sent."""
    stack, key, job = served

    response, video = await get_range(stack, key, job, range_header, follow=stack.s3 is None)

    if stack.s3 is not None:
        assert response.status_code == 307
        return
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == video["sha256"]
