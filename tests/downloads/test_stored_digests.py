"""The SHA-256 recorded for a stored video is the one of its bytes, whether it was taken
while yt-dlp wrote the file (nothing rewrote it afterwards) or after ffmpeg rewrote it
(metadata): real API and worker processes, real yt-dlp and ffmpeg."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

LEAN = {"include_thumbnail": False, "embed_metadata": False, "include_transcription": False}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


def single_file_video(stack: Stack, video_id: str) -> str:
    """A catalog video with one format holding video and audio: yt-dlp downloads it
    straight to its final name, with no merge."""
    entry: dict[str, Any] = copy.deepcopy(stack.youtube.catalog["videos"][STANDARD_VIDEO_ID])
    entry.update(id=video_id, formats=[f for f in entry["formats"] if f["format_id"] == "18"])
    stack.youtube.set_entry(video_id, entry)
    return stack.youtube.video_url(video_id)


@pytest.mark.parametrize(
    ("video_id", "options"),
    [("d1gestLean1", LEAN), ("d1gestDeflt", {"include_transcription": False})],
    ids=["lean", "default"],
)
async def test_the_recorded_sha256_is_the_stored_video_s(
    stack: Stack, http: httpx.AsyncClient, video_id: str, options: dict[str, Any]
) -> None:
    key = stack.key()
    job = await submit(http, key, single_file_video(stack, video_id), **options)
    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "completed", watched.final

    done = await fetch_job(http, key, job["job_id"])
    video = next(f for f in done["files"] if f["kind"] == "video")
    on_disk = (stack.storage_dir / job["job_id"] / f"{video_id}.mp4").read_bytes()
    assert video["sha256"] == hashlib.sha256(on_disk).hexdigest()
    assert video["size"] == len(on_disk)
    served = await http.get(video["url"], headers={"X-API-Key": key})
    assert served.status_code == 200 and served.content == on_disk
