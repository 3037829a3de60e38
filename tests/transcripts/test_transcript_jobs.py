"""Transcript jobs through the real API and worker: sources per language, translation,
transcript_only, the transcript endpoint, and spaced subtitle requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import SLOW_VIDEO_ID, STANDARD_VIDEO_ID
from tests.support.stack import Stack, StartStack

pytestmark = pytest.mark.e2e
SUBTITLE_SLEEP = 0.4


@pytest.fixture(scope="module")
def transcript_stack(start_stack: StartStack) -> Stack:
    return start_stack("transcripts", SUBTITLE_SLEEP_SECONDS=str(SUBTITLE_SLEEP))


@pytest.fixture
async def http(transcript_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=transcript_stack.base_url, timeout=30) as client:
        yield client


async def finished_job(
    stack: Stack, http: httpx.AsyncClient, key: str, url: str, **options: Any
) -> dict[str, Any]:
    job = await submit(http, key, url, **options)
    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "completed", watched.final
    return await fetch_job(http, key, job["job_id"])


async def test_transcript_only_stores_transcripts_and_no_media(
    transcript_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = transcript_stack.key()
    transcript_stack.youtube.server.reset_hits()
    job = await finished_job(
        transcript_stack, http, key, transcript_stack.youtube.video_url(STANDARD_VIDEO_ID),
        transcript_only=True, subtitle_languages=["en", "de"],
    )  # fmt: skip
    kinds = {f["kind"] for f in job["files"]}
    assert "video" not in kinds and "audio" not in kinds
    subtitles = {(f["language"], f["format"]) for f in job["files"] if f["kind"] == "subtitle"}
    assert subtitles == {
        (lang, fmt) for lang in ("en", "de") for fmt in ("srt", "vtt", "txt", "json")
    }, "the default formats"
    assert transcript_stack.youtube.server.hits_for(f"media/{STANDARD_VIDEO_ID}") == []


async def test_each_language_says_where_it_came_from_and_the_job_still_completes(
    transcript_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = transcript_stack.key()
    job = await finished_job(
        transcript_stack, http, key, transcript_stack.youtube.video_url(STANDARD_VIDEO_ID),
        transcript_only=True, subtitle_languages=["en", "es"], translate_to="fr",
        subtitle_formats=["txt", "srt"],
    )  # fmt: skip
    sources = {t["language"]: t["source"] for t in job["transcripts"]["languages"]}
    assert sources == {"en": "manual", "fr": "translated"}
    assert job["transcripts"]["unavailable"] == ["es"]
    formats = {f["format"] for f in job["files"] if f["kind"] == "subtitle"}
    assert formats == {"txt", "srt"}

    french = await http.get(
        f"/api/v1/downloads/{job['job_id']}/transcript",
        params={"lang": "fr", "format": "txt"},
        headers={"X-API-Key": key},
    )
    assert french.status_code == 200
    assert "bonjour à tous" in french.text


async def test_an_unavailable_translation_is_recorded_not_fatal(
    transcript_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = transcript_stack.key()
    job = await finished_job(
        transcript_stack, http, key, transcript_stack.youtube.video_url(STANDARD_VIDEO_ID),
        transcript_only=True, translate_to="ja",
    )  # fmt: skip
    [warning] = job["transcripts"]["warnings"]
    assert warning["code"] == "translation_unavailable" and warning["language"] == "ja"
    assert [t["language"] for t in job["transcripts"]["languages"]] == ["en"]


async def test_auto_captions_become_clean_text_and_the_endpoint_serves_every_format(
    transcript_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = transcript_stack.key()
    headers = {"X-API-Key": key}
    job = await finished_job(
        transcript_stack, http, key, transcript_stack.youtube.video_url(SLOW_VIDEO_ID),
        transcript_only=True,
    )  # fmt: skip
    assert job["transcripts"]["languages"][0]["source"] == "auto"
    url = f"/api/v1/downloads/{job['job_id']}/transcript"

    txt = await http.get(url, params={"lang": "en", "format": "txt"}, headers=headers)
    assert txt.headers["content-type"].startswith("text/plain")
    paragraphs = txt.text.strip().split("\n\n")
    assert len(paragraphs) == 2, "50 words: a paragraph ends at the long pause"
    assert paragraphs[0].startswith("hello everyone and welcome back to another short video")
    lines = [line for line in txt.text.splitlines() if line]
    assert len(lines) == len(set(lines)) and "<" not in txt.text

    cues = (await http.get(url, params={"lang": "en", "format": "json"}, headers=headers)).json()
    texts = [cue["text"] for cue in cues]
    assert len(texts) == len(set(texts)), "no line repeated"
    assert all(a["end"] <= b["start"] for a, b in pairwise(cues))
    assert all(cue["end"] > cue["start"] and cue["text"] for cue in cues)

    srt = await http.get(url, params={"lang": "en", "format": "srt"}, headers=headers)
    assert srt.text.startswith("1\n00:00:00,240 --> ")
    vtt = await http.get(url, params={"format": "vtt"}, headers=headers)
    assert vtt.text.startswith("WEBVTT") and "hello everyone" in vtt.text

    missing = await http.get(url, params={"lang": "de", "format": "srt"}, headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "transcript_not_found"
    bad = await http.get(url, params={"lang": "en", "format": "docx"}, headers=headers)
    assert bad.status_code == 422


async def test_the_default_request_serves_words_markdown_and_chunks(
    transcript_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = transcript_stack.key()
    headers = {"X-API-Key": key}
    job = await finished_job(
        transcript_stack, http, key, transcript_stack.youtube.video_url(SLOW_VIDEO_ID),
        transcript_only=True,
    )  # fmt: skip
    url = f"/api/v1/downloads/{job['job_id']}/transcript"

    cues = (await http.get(url, params={"format": "json"}, headers=headers)).json()
    assert all(cue["words"] for cue in cues), "auto-captions carry word timings"
    for cue in cues:
        assert " ".join(word["text"] for word in cue["words"]) == cue["text"].replace("\n", " ")
        assert cue["start"] <= cue["words"][0]["start"] <= cue["words"][-1]["end"] <= cue["end"]
        assert 0.7 <= round(cue["end"] - cue["start"], 3) <= 7
        assert all(len(line) <= 42 for line in cue["text"].split("\n"))

    markdown = await http.get(url, params={"format": "md"}, headers=headers)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(
        f"# {job['metadata']['title']}\n\n[00:00](https://youtu.be/{SLOW_VIDEO_ID}?t=0) hello"
    )

    chunks = await http.get(url, params={"format": "chunks", "max_words": 20}, headers=headers)
    pieces = chunks.json()
    assert len(pieces) >= 3 and all(len(piece["text"].split()) <= 20 for piece in pieces)
    assert pieces[1]["url"] == f"https://youtu.be/{SLOW_VIDEO_ID}?t={int(pieces[1]['start'])}"
    txt = (await http.get(url, headers=headers)).text
    assert " ".join(piece["text"] for piece in pieces).split() == txt.split()

    wrong = await http.get(url, params={"format": "txt", "max_words": 20}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "invalid_transcript_options"
    tiny = await http.get(url, params={"format": "chunks", "max_words": 1}, headers=headers)
    assert tiny.status_code == 422


async def test_subtitle_requests_are_spaced_out(
    transcript_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = transcript_stack.key()
    transcript_stack.youtube.server.reset_hits()
    await finished_job(
        transcript_stack, http, key, transcript_stack.youtube.video_url(STANDARD_VIDEO_ID),
        transcript_only=True, subtitle_languages="all",
    )  # fmt: skip
    times = [
        hit.at for hit in transcript_stack.youtube.server.hits_for(f"subs/{STANDARD_VIDEO_ID}")
    ]
    assert len(times) == 2, "manual en and de (all languages, manual first)"
    assert times[1] - times[0] >= SUBTITLE_SLEEP * 0.9
