"""A downloaded transcript becomes searchable: real API and worker processes index the job
when it completes, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import (
    PLAYLIST_SUBTITLED_IDS,
    UNIQUE_TRANSCRIPT_WORD,
    UNIQUE_WORD_VIDEO_ID,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
OTHER_SUBTITLED_ID = next(v for v in PLAYLIST_SUBTITLED_IDS if v != UNIQUE_WORD_VIDEO_ID)


@pytest.fixture(params=["stack", "pg_stack"])
def running(request: pytest.FixtureRequest) -> Stack:
    """The SQLite stack, then the PostgreSQL one (each started once for this module)."""
    stack: Stack = request.getfixturevalue(request.param)
    return stack


@pytest.fixture
async def http(running: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as client:
        yield client


async def completed(stack: Stack, http: httpx.AsyncClient, key: str, video_id: str) -> str:
    job = await submit(
        http, key, stack.youtube.video_url(video_id), transcript_only=True,
        subtitle_languages=["en"], subtitle_formats=["vtt"],
    )  # fmt: skip
    watched = await watch(stack.ws_url, job["job_id"], key=key, within=60)
    assert watched.final["status"] == "completed", watched.final
    job_id: str = job["job_id"]
    return job_id


async def test_a_completed_download_is_found_by_a_word_of_its_transcript(
    running: Stack, http: httpx.AsyncClient
) -> None:
    key = running.key()
    headers = {"X-API-Key": key}
    wanted = await completed(running, http, key, UNIQUE_WORD_VIDEO_ID)
    other = await completed(running, http, key, OTHER_SUBTITLED_ID)

    response = await http.get(
        "/api/v1/library", params={"q": UNIQUE_TRANSCRIPT_WORD.upper()}, headers=headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1 and [item["job_id"] for item in body["items"]] == [wanted]
    item = body["items"][0]
    assert item["video_id"] == UNIQUE_WORD_VIDEO_ID
    assert f"<mark>{UNIQUE_TRANSCRIPT_WORD}</mark>" in item["snippet"]
    [match] = item["matches"]
    assert UNIQUE_TRANSCRIPT_WORD in match["text"] and match["language"] == "en"
    assert (match["start"], match["end"]) == (2.0, 5.3)  # the cue's timing in the caption file

    both = await http.get("/api/v1/library", params={"q": "short video"}, headers=headers)
    assert {item["job_id"] for item in both.json()["items"]} == {wanted, other}
    stats = (await http.get("/api/v1/stats", headers=headers)).json()
    assert stats["jobs_by_status"]["completed"] == 2 and stats["library_entries"] == 2
    files = [f for job_id in (wanted, other) for f in (await fetch_job(http, key, job_id))["files"]]
    assert stats["files_stored"] == len(files)
    assert stats["bytes_stored"] == sum(f["size"] for f in files) > 0

    deleted = await http.delete(f"/api/v1/downloads/{wanted}", headers=headers)
    assert deleted.status_code == 204
    gone = await http.get("/api/v1/library", params={"q": UNIQUE_TRANSCRIPT_WORD}, headers=headers)
    assert gone.json()["total"] == 0
