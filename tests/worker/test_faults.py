"""Workers killed or stopped in the middle of a download: nothing is lost, nothing done twice,
and the download resumes with HTTP Range instead of starting over."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import DatabaseFactory
from tests.support.faults import stack_client, stored_sha256, throttled_copy, wait_for
from tests.support.jobs import submit
from tests.support.offline_youtube import SLOW_VIDEO_ID, OfflineYouTube
from tests.support.stack import Stack, running_stack, start_worker

pytestmark = pytest.mark.e2e
# A connection's rate: over the default four connections the 3.8 MB video part takes about
# ten seconds.
RATE = 96 * 1024


@pytest.fixture
def fault_stack(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> Iterator[Stack]:
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_db=10,
        beat=True,
        JOB_LEASE_SECONDS="10",
        RECONCILE_INTERVAL_SECONDS="2",
        WORKER_SHUTDOWN_GRACE_SECONDS="1",
    ) as running:
        yield running


def resumed_ranges(stack: Stack) -> list[str]:
    """Range headers of requests for the video part that did not start at byte 0 (the
    throttled copies are served from the slow fixture's files)."""
    return [
        hit.range
        for hit in stack.youtube.server.hits_for(f"media/{SLOW_VIDEO_ID}/134.mp4")
        if hit.range and not hit.range.startswith("bytes=0-")
    ]


async def test_a_worker_killed_mid_download_is_replaced_and_the_job_resumes(
    fault_stack: Stack,
) -> None:
    stack = fault_stack
    video_id = "killResume1"
    url = throttled_copy(stack.youtube, video_id, RATE)
    key = stack.key()
    async with stack_client(stack) as http:
        reference = await submit(http, key, url, include_transcription=False)
        reference_done = await wait_for(
            http, key, reference["job_id"], lambda j: j["status"] == "completed"
        )
        expected = await stored_sha256(http, key, reference_done)

        stack.youtube.server.reset_hits()
        job = await submit(http, key, url, include_transcription=False)
        await wait_for(http, key, job["job_id"], lambda j: j["progress"] >= 45, poll=0.1)
        stack.workers[0].kill()  # kill -9 of the whole worker: main process and pool

        stack.workers.append(start_worker(stack.env, stack.log_dir, name="replacement", beat=True))
        done = await wait_for(http, key, job["job_id"], lambda j: j["status"] == "completed")

        assert await stored_sha256(http, key, done) == expected
        assert done["attempts"] == 2
        assert resumed_ranges(stack), "the second attempt continued the .part file"


async def test_sigterm_hands_a_long_job_back_and_another_worker_resumes_it(
    fault_stack: Stack,
) -> None:
    stack = fault_stack
    video_id = "termResume1"
    url = throttled_copy(stack.youtube, video_id, RATE)
    key = stack.key()
    async with stack_client(stack) as http:
        stack.youtube.server.reset_hits()
        job = await submit(http, key, url, include_transcription=False)
        await wait_for(http, key, job["job_id"], lambda j: j["progress"] >= 30, poll=0.1)

        stack.workers[0].stop(signal.SIGTERM, timeout=30)
        assert stack.workers[0].proc.returncode is not None, "the worker exited"
        handed_back = await wait_for(http, key, job["job_id"], lambda j: j["status"] == "queued")
        assert handed_back["progress"] >= 30, "progress is kept"
        assert f"job {job['job_id']} handed back" in stack.workers[0].log()

        stack.workers.append(start_worker(stack.env, stack.log_dir, name="successor"))
        done = await wait_for(http, key, job["job_id"], lambda j: j["status"] == "completed")
        assert done["attempts"] == 1, "a hand-back is not a failed attempt"
        assert resumed_ranges(stack)
        assert uuid.UUID(done["job_id"])


def part_bytes(workdir: Path) -> int:
    return sum(part.stat().st_size for part in workdir.glob("*.part"))


async def partial_download_grows(workdir: Path, *, past: int, within: float = 60) -> None:
    """Wait until the job's .part files on disk hold more than `past` bytes."""
    deadline = time.monotonic() + within
    while part_bytes(workdir) <= past:
        assert time.monotonic() < deadline, f"no partial download past {past} bytes"
        await asyncio.sleep(0.1)


async def test_a_job_whose_workers_keep_dying_ends_worker_lost_without_its_partial_download(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path,
        redis_db=13,
        beat=True,
        JOB_LEASE_SECONDS="10",
        RECONCILE_INTERVAL_SECONDS="2",
        MAX_ATTEMPTS="2",
    ) as stack:
        url = throttled_copy(stack.youtube, "killTwice01", RATE)
        key = stack.key()
        async with stack_client(stack) as http:
            submitted = await submit(http, key, url, include_transcription=False)
            workdir = stack.work_dir / submitted["job_id"]
            for attempt in (1, 2):
                await wait_for(
                    http,
                    key,
                    submitted["job_id"],
                    lambda j, n=attempt: j["status"] == "processing" and j["attempts"] == n,
                    poll=0.1,
                )
                await partial_download_grows(workdir, past=attempt * 512 * 1024)
                stack.workers[-1].kill()
                stack.workers.append(
                    start_worker(stack.env, stack.log_dir, name=f"after-kill-{attempt}", beat=True)
                )
            done = await wait_for(
                http, key, submitted["job_id"], lambda j: j["status"] == "failed", within=120
            )
        assert done["error"]["code"] == "worker_lost", done["error"]
        # The work directory goes after the ending is committed (and published).
        await work_dir_removed(workdir)


def leftovers(workdir: Path) -> list[str] | None:
    """What the directory still holds; None once it is gone."""
    return sorted(p.name for p in workdir.iterdir()) if workdir.exists() else None


async def work_dir_removed(workdir: Path, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (remaining := leftovers(workdir)) is not None:
        assert time.monotonic() < deadline, remaining
        await asyncio.sleep(0.05)


def range_starts(stack: Stack, name: str) -> list[int | None]:
    """Where each request for one of the slow fixture's media files started (None: no Range)."""
    return [
        int(hit.range.split("=")[1].split("-")[0]) if hit.range else None
        for hit in stack.youtube.server.hits_for(f"media/{SLOW_VIDEO_ID}/{name}")
    ]


async def test_a_worker_killed_mid_multi_connection_download_resumes_every_range(
    fault_stack: Stack,
) -> None:
    stack = fault_stack
    video_id = "killRanges1"
    key = stack.key()
    source = (stack.youtube.site_root / "media" / SLOW_VIDEO_ID / "134.mp4").read_bytes()
    async with stack_client(stack) as http:
        # The same video served fast first: what the killed download must end up as.
        url = throttled_copy(stack.youtube, video_id, 8 * 1024 * 1024)
        reference = await submit(http, key, url, include_transcription=False)
        reference_done = await wait_for(
            http, key, reference["job_id"], lambda j: j["status"] == "completed"
        )
        expected = await stored_sha256(http, key, reference_done)

        # 64 kB/s a connection: four connections take about 15 s over the 3.8 MB video part.
        throttled_copy(stack.youtube, video_id, 64 * 1024)
        stack.youtube.server.reset_hits()
        job = await submit(http, key, url, include_transcription=False)
        workdir = stack.work_dir / job["job_id"]
        await partial_download_grows(workdir, past=1024 * 1024)
        stack.workers[0].kill()
        (part,) = workdir.glob("*.f134.mp4.part")
        kept = part.read_bytes()
        assert source.startswith(kept), "the .part file is always a prefix of the media"
        first_attempt = range_starts(stack, "134.mp4")
        assert len(first_attempt) >= 4 and None not in first_attempt, first_attempt

        stack.youtube.server.reset_hits()
        stack.workers.append(start_worker(stack.env, stack.log_dir, name="ranges", beat=True))
        done = await wait_for(http, key, job["job_id"], lambda j: j["status"] == "completed")
        assert await stored_sha256(http, key, done) == expected

    resumed = range_starts(stack, "134.mp4")
    starts = [start for start in resumed if start is not None]
    assert len(starts) == len(resumed) >= 2, "every connection asked for a range"
    assert min(starts) == len(kept), "the second attempt continued at the .part file's end"
    assert done["attempts"] == 2
