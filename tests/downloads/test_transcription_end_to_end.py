"""Speech recognition through the real API, download worker, transcription worker (its own
queue, as `make run` starts it) and the offline YouTube: a spoken clip without captions,
made with espeak-ng, gets a recognised transcript; downloads never wait behind a recognition."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_playlists import manual_en_subtitles, write_captions
from tests.support.offline_youtube import CAPTIONS_DIR, LADDER_VIDEO_ID, OfflineYouTube
from tests.support.speech import SCRIPT, spoken_clip, tiny_model, word_error_rate
from tests.support.stack import (
    TRANSCRIPTION_QUEUES,
    ManagedProcess,
    Stack,
    StartStack,
    start_worker,
)

pytestmark = pytest.mark.e2e
SPOKEN_ID = "spokenVid01"
CAPTIONED_SPOKEN_ID = "spokenCapt1"
LONG_SPOKEN_ID = "spokenLong1"
LONG_REPEAT = 6  # about 75 s of speech: a recognition of many seconds on one thread


@pytest.fixture(scope="module")
def spoken_site(
    offline_youtube: OfflineYouTube, tmp_path_factory: pytest.TempPathFactory
) -> OfflineYouTube:
    clip = spoken_clip(tmp_path_factory.mktemp("spoken"))
    offline_youtube.add_video_from_files(SPOKEN_ID, progressive=clip.video, audio=clip.audio)
    offline_youtube.add_video_from_files(
        CAPTIONED_SPOKEN_ID, progressive=clip.video, audio=clip.audio
    )
    captions = offline_youtube.site_root / "subs" / CAPTIONED_SPOKEN_ID / "manual.en.vtt"
    write_captions(CAPTIONS_DIR / "manual.en.vtt", captions)
    subs_url = offline_youtube.server.url(f"subs/{CAPTIONED_SPOKEN_ID}/manual.en.vtt")
    offline_youtube.update_entry(CAPTIONED_SPOKEN_ID, subtitles=manual_en_subtitles(subs_url))
    long = spoken_clip(tmp_path_factory.mktemp("spoken-long"), repeat=LONG_REPEAT)
    offline_youtube.add_video_from_files(LONG_SPOKEN_ID, progressive=long.video, audio=long.audio)
    return offline_youtube


@pytest.fixture(scope="module")
def asr_stack(start_stack: StartStack, spoken_site: OfflineYouTube) -> Stack:
    stack = start_stack(
        "asr",
        ASR_ENABLED="true",
        ASR_MODEL=str(tiny_model()),
        ASR_CPU_THREADS="1",
        SUBTITLE_SLEEP_SECONDS="0",
    )
    stack.workers.append(
        start_worker(
            stack.env, stack.log_dir, name="asr-worker", queues=TRANSCRIPTION_QUEUES, concurrency=1
        )
    )
    return stack


@pytest.fixture
async def http(asr_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=asr_stack.base_url, timeout=30) as client:
        yield client


async def transcript(
    http: httpx.AsyncClient, key: str, job_id: str, **params: str
) -> httpx.Response:
    return await http.get(
        f"/api/v1/downloads/{job_id}/transcript", params=params, headers={"X-API-Key": key}
    )


async def finished(stack: Stack, http: httpx.AsyncClient, key: str, job_id: str) -> dict[str, Any]:
    watched = await watch(stack.ws_url, job_id, key=key, within=180)
    assert watched.final["status"] == "completed", watched.final
    return await fetch_job(http, key, job_id)


async def test_a_video_without_captions_gets_a_recognised_transcript(
    asr_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = asr_stack.key()
    url = asr_stack.youtube.video_url(SPOKEN_ID)
    job = await submit(http, key, url, transcribe="missing", quality="worst")
    watched = await watch(asr_stack.ws_url, job["job_id"], key=key, within=180)

    assert watched.final["status"] == "completed", watched.final
    stages = [e.get("stage") for e in watched.events[1:] if e["status"] == "processing"]
    assert "transcribing" in stages, "the job says it is recognising speech"
    assert stages.index("transcribing") > stages.index("uploading"), "after the media is stored"
    progress = watched.progress_values()
    assert progress == sorted(progress) and progress[-1] == 100
    done = await fetch_job(http, key, job["job_id"])
    assert done["transcripts"]["languages"] == [
        {"language": "en", "source": "asr", "formats": ["srt", "vtt", "txt", "json"]}
    ]
    assert done["transcripts"]["unavailable"] == [] and done["transcripts"]["warnings"] == []
    assert {f["kind"] for f in done["files"]} >= {"video", "subtitle"}

    cues = (await transcript(http, key, job["job_id"], format="json")).json()
    text = " ".join(cue["text"] for cue in cues)
    assert word_error_rate(SCRIPT, text) <= 0.3, text
    assert all(a["start"] <= b["start"] for a, b in pairwise(cues))
    assert all(cue["end"] > cue["start"] for cue in cues)
    assert all(cue["words"] for cue in cues), "recognised words keep their timings"
    assert all(0.7 <= round(cue["end"] - cue["start"], 3) <= 7 for cue in cues), "re-timed"
    srt = await transcript(http, key, job["job_id"], lang="en", format="srt")
    assert srt.status_code == 200 and srt.text.startswith("1\n00:00:0")


async def test_never_gets_no_transcript_and_says_why(
    asr_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = asr_stack.key()
    url = asr_stack.youtube.video_url(SPOKEN_ID)
    job = await submit(http, key, url, transcribe="never", transcript_only=True)
    done = await finished(asr_stack, http, key, job["job_id"])

    summary = done["transcripts"]
    assert summary["languages"] == [] and summary["unavailable"] == ["en"]
    [warning] = summary["warnings"]
    assert warning["code"] == "asr_not_requested" and warning["language"] == "en"
    assert '"never"' in warning["message"]
    missing = await transcript(http, key, job["job_id"])
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "transcript_not_found"


async def test_a_transcript_only_job_gets_a_recognised_transcript_and_no_media(
    asr_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = asr_stack.key()
    asr_stack.youtube.server.reset_hits()
    url = asr_stack.youtube.video_url(SPOKEN_ID)
    job = await submit(http, key, url, transcript_only=True, subtitle_formats=["txt"])
    done = await finished(asr_stack, http, key, job["job_id"])

    assert done["options"]["transcribe"] == "missing", "the server's default"
    assert not {f["kind"] for f in done["files"]} & {"video", "audio"}
    subtitles = [(f["language"], f["format"]) for f in done["files"] if f["kind"] == "subtitle"]
    assert subtitles == [("en", "txt")]
    assert asr_stack.youtube.server.hits_for(f"media/{SPOKEN_ID}/140.m4a"), "the audio only"
    assert not asr_stack.youtube.server.hits_for(f"media/{SPOKEN_ID}/18.mp4")
    stored = asr_stack.stored_names(job["job_id"])
    assert not any(name.endswith((".m4a", ".mp4", ".webm")) for name in stored), stored
    text = (await transcript(http, key, job["job_id"])).text
    assert word_error_rate(SCRIPT, text) <= 0.3, text


async def test_always_records_the_recognised_track_beside_the_captions(
    asr_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = asr_stack.key()
    url = asr_stack.youtube.video_url(CAPTIONED_SPOKEN_ID)
    job = await submit(http, key, url, transcribe="always", transcript_only=True)
    done = await finished(asr_stack, http, key, job["job_id"])

    sources = {t["language"]: t["source"] for t in done["transcripts"]["languages"]}
    assert sources == {"en": "manual", "en-x-asr": "asr"}
    captions = await transcript(http, key, job["job_id"], lang="en")
    recognised = await transcript(http, key, job["job_id"], lang="en-x-asr")
    assert word_error_rate(SCRIPT, recognised.text) <= 0.3, recognised.text
    assert word_error_rate(SCRIPT, captions.text) > 0.5, "the captions are not overwritten"


async def test_a_long_recognition_does_not_delay_another_download_and_can_be_canceled(
    asr_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = asr_stack.key()
    long_url = asr_stack.youtube.video_url(LONG_SPOKEN_ID)
    recognising = await submit(http, key, long_url, transcript_only=True)
    await watch(
        asr_stack.ws_url,
        recognising["job_id"],
        key=key,
        within=120,
        until=lambda e: e.get("stage") == "transcribing",
    )

    ladder = asr_stack.youtube.video_url(LADDER_VIDEO_ID)
    other = await submit(http, key, ladder, quality="worst", transcribe="never")
    other_done = await finished(asr_stack, http, key, other["job_id"])
    assert {f["kind"] for f in other_done["files"]} >= {"video"}

    still = await fetch_job(http, key, recognising["job_id"])
    assert (still["status"], still["stage"]) == ("processing", "transcribing"), (
        "the download completed while the recognition went on"
    )
    assert 0 < still["progress"] < 100
    canceled = await http.delete(
        f"/api/v1/downloads/{recognising['job_id']}", headers={"X-API-Key": key}
    )
    assert canceled.status_code == 202, canceled.text
    watched = await watch(asr_stack.ws_url, recognising["job_id"], key=key, within=60)
    assert watched.final["status"] == "canceled"


@pytest.fixture(scope="module")
def reconciled_stack(start_stack: StartStack, spoken_site: OfflineYouTube) -> Stack:
    """A stack whose beat reconciles every second, with short leases."""
    stack = start_stack(
        "asr-reconciled",
        redis_db=2,
        beat=True,
        ASR_ENABLED="true",
        ASR_MODEL=str(tiny_model()),
        ASR_CPU_THREADS="2",
        JOB_LEASE_SECONDS="10",
        RECONCILE_INTERVAL_SECONDS="1",
    )
    stack.workers.append(start_asr_worker(stack, "asr-worker-1"))
    return stack


def start_asr_worker(stack: Stack, name: str) -> ManagedProcess:
    return start_worker(
        stack.env, stack.log_dir, name=name, queues=TRANSCRIPTION_QUEUES, concurrency=1
    )


async def test_a_recognition_whose_worker_is_killed_is_taken_up_again_and_completes(
    reconciled_stack: Stack,
) -> None:
    stack = reconciled_stack
    key = stack.key()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        job = await submit(http, key, stack.youtube.video_url(LONG_SPOKEN_ID), transcript_only=True)
        await watch(
            stack.ws_url,
            job["job_id"],
            key=key,
            within=120,
            until=lambda e: e.get("stage") == "transcribing" and e["type"] == "progress",
        )
        stack.workers[-1].kill()  # kill -9 mid-recognition, pool and all
        stack.workers.append(start_asr_worker(stack, "asr-worker-2"))

        done = await finished(stack, http, key, job["job_id"])
    assert done["attempts"] == 2, "the lost run counts as an attempt"
    assert [t["source"] for t in done["transcripts"]["languages"]] == ["asr"]
    assert done["transcripts"]["warnings"] == []
    assert any(f["kind"] == "subtitle" and f["language"] == "en" for f in done["files"])


async def test_a_broken_model_completes_the_job_with_its_media_and_a_warning(
    start_stack: StartStack, spoken_site: OfflineYouTube, tmp_path: Path
) -> None:
    stack = start_stack(
        "asr-broken-model", redis_db=3, ASR_ENABLED="true", ASR_MODEL=str(tmp_path / "gone")
    )
    stack.workers.append(start_asr_worker(stack, "asr-worker-broken"))
    key = stack.key()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        job = await submit(http, key, stack.youtube.video_url(SPOKEN_ID), quality="worst")
        done = await finished(stack, http, key, job["job_id"])

    assert done["error"] is None
    assert "video" in {f["kind"] for f in done["files"]}, "the media is kept"
    assert done["transcripts"]["languages"] == [] and done["transcripts"]["unavailable"] == ["en"]
    [warning] = done["transcripts"]["warnings"]
    assert warning["code"] == "asr_failed" and "not a model directory" in warning["message"]


def test_the_spoken_fixtures_are_served_without_captions(spoken_site: OfflineYouTube) -> None:
    entry = spoken_site.catalog["videos"][SPOKEN_ID]
    assert entry["subtitles"] == {} and entry["automatic_captions"] == {}
    assert Path(spoken_site.site_root / "media" / SPOKEN_ID / "140.m4a").is_file()
