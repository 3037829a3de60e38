"""The job page in a real browser against a real stack: the downloaded video plays, its
transcript follows it (a clicked cue seeks the player and becomes the current one), the
transcript search marks words and counts cues, the transcript downloads serve the text,
`?t=` starts the player at a moment, and a hostile title shows as plain text."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.support.browser import assert_accessible, save_screenshots
from tests.support.faults import throttled_copy
from tests.support.jobs import watch
from tests.support.offline_playlists import playable_copy
from tests.support.offline_youtube import (
    PLAYLIST_VIDEO_IDS,
    PRIVATE_VIDEO_ID,
    SLOW_VIDEO_ID,
    STANDARD_VIDEO_ID,
)

if TYPE_CHECKING:
    from tests.support.fixtures.browser import NewPage
    from tests.support.offline_youtube import OfflineYouTube
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

XSS_VIDEO_ID = "xssTitleJb1"
XSS_TITLE = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"
SEEK_TOLERANCE = 0.5
FAMILY_LIST_ID = "PLjobPageFamilyFixturePlaylist1234"


def add_hostile_video(youtube: OfflineYouTube, video_id: str, title: str) -> None:
    """A new playable video (the standard clip's media) whose title is markup."""
    if video_id not in youtube.catalog["videos"]:
        template = youtube.catalog["videos"][STANDARD_VIDEO_ID]
        youtube.set_entry(
            video_id, playable_copy(template, video_id, title=title, upload_date="20240102")
        )


def finished_job(stack: Stack, key: str, url: str, **options: Any) -> dict[str, Any]:
    """Submit a download through the API and wait (over its WebSocket) for it to end."""
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        created = http.post("/api/v1/downloads", json={"url": url, **options}, headers=headers)
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        # In a thread of its own: Playwright's sync API keeps an event loop in this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, watch(stack.ws_url, job_id, key=key, within=120)).result()
        job = http.get(f"/api/v1/downloads/{job_id}", headers=headers)
        assert job.status_code == 200, job.text
        body: dict[str, Any] = job.json()
        return body


def completed_job(stack: Stack, key: str, video_id: str, **options: Any) -> dict[str, Any]:
    job = finished_job(stack, key, stack.youtube.video_url(video_id), **options)
    assert job["status"] == "completed", job
    return job


def transcript_cues(stack: Stack, key: str, job_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.base_url}/api/v1/downloads/{job_id}/transcript",
        params={"format": "json"},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    cues: list[dict[str, Any]] = response.json()
    return cues


def signed_in_page(new_page: NewPage, stack: Stack, key: str, path: str) -> Page:
    """A page signed in through the sign-in form, which then goes on to `path`."""
    page = new_page(stack.base_url)
    sign_in(page, key, path)
    return page


def sign_in(page: Page, key: str, path: str) -> None:
    page.goto(f"/signin?next={path}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_have_count(0)


def current_time(page: Page) -> float:
    value: float = page.evaluate("document.querySelector('video').currentTime")
    return value


@pytest.fixture(scope="module")
def key(stack: Stack) -> str:
    return stack.key("job-page")


@pytest.fixture(scope="module")
def standard(stack: Stack, key: str) -> dict[str, Any]:
    return completed_job(stack, key, STANDARD_VIDEO_ID)


@pytest.fixture
def job_page(new_page: NewPage, stack: Stack, key: str, standard: dict[str, Any]) -> Iterator[Page]:
    page = signed_in_page(new_page, stack, key, f"/jobs/{standard['job_id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(standard["metadata"]["title"])
    yield page
    assert page.blocked_requests == []  # type: ignore[attr-defined]


def test_the_video_plays_and_a_clicked_cue_seeks_it_and_becomes_current(
    job_page: Page, stack: Stack, key: str, standard: dict[str, Any]
) -> None:
    page = job_page
    video = page.locator("video")
    expect(video).to_be_visible()
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.5")

    cues = transcript_cues(stack, key, standard["job_id"])
    target = next(cue for cue in cues if "golden" in cue["text"])
    button = page.get_by_role("button", name="golden")
    button.click()

    page.wait_for_function(
        "([start, tolerance]) => Math.abs(document.querySelector('video').currentTime - start)"
        " <= tolerance",
        arg=[target["start"], SEEK_TOLERANCE],
    )
    page.evaluate("() => document.querySelector('video').pause()")  # hold that moment
    expect(button).to_have_attribute("aria-current", "true")
    expect(page.locator(".cue-item.current")).to_have_count(1)
    expect(page.locator(".cue-item.current")).to_contain_text("golden")

    # Playing on, the highlight follows the player to the last cue.
    page.evaluate("() => document.querySelector('video').play()")
    last = page.get_by_role("button", name="Thanks for watching")
    expect(last).to_have_attribute("aria-current", "true", timeout=15_000)
    expect(button).not_to_have_attribute("aria-current", "true")


def test_the_page_shows_the_metadata_and_the_files(
    job_page: Page, standard: dict[str, Any]
) -> None:
    page = job_page
    summary = page.locator(".job-summary")
    expect(summary).to_contain_text("completed")
    expect(summary).to_contain_text(standard["metadata"]["channel_name"])
    expect(summary.get_by_role("link", name=standard["url"])).to_have_attribute(
        "href", standard["url"]
    )
    files = page.locator(".files-table tbody tr")
    expect(files).to_have_count(len(standard["files"]))
    video_file = next(f for f in standard["files"] if f["kind"] == "video")
    row = files.filter(has=page.locator(f'a[href="{video_file["url"]}"]'))
    expect(row).to_contain_text("video")
    fetched = page.evaluate(
        """async (url) => {
            const r = await fetch(url, {headers: {Range: 'bytes=0-99'}});
            return [r.status, r.headers.get('content-disposition')];
        }""",
        video_file["url"],
    )
    assert fetched[0] == 206
    # The name shown is the one the file downloads under.
    served_name = unquote(fetched[1].split("filename*=utf-8''")[-1])
    expect(row.locator(".file-name")).to_have_text(served_name)
    expect(row.get_by_role("link")).to_have_attribute("download", served_name)
    save_screenshots(page, "job-page")
    assert_accessible(page, "job-page")


def test_transcript_search_marks_the_word_and_counts_the_cues(job_page: Page) -> None:
    page = job_page
    search = page.get_by_label("Search the transcript")
    expect(page.locator(".cue-count")).to_have_text("7 cues")

    search.fill("bread")

    expect(page.locator(".cues mark")).to_have_text(["bread"])
    expect(page.locator(".cue-count")).to_have_text("1 cue matches “bread”")
    expect(page.locator(".cue-item:visible")).to_have_count(1)

    search.fill("the")
    expect(page.locator(".cue-count")).to_have_text("4 cues match “the”")

    search.fill("")
    expect(page.locator(".cue-item:visible")).to_have_count(7)
    expect(page.locator(".cues mark")).to_have_count(0)


def test_the_transcript_downloads_serve_text_srt_and_vtt(
    job_page: Page, standard: dict[str, Any]
) -> None:
    page = job_page
    expected = {"TXT": "Thanks for watching!", "SRT": "00:00:15,800 --> ", "VTT": "WEBVTT"}
    for label, needle in expected.items():
        link = page.get_by_role("link", name=f"Download the transcript as {label}")
        expect(link).to_have_attribute(
            "download", re.compile(rf"^Big Buck Bunny .*\.en\.{label.lower()}$")
        )
        href = link.get_attribute("href")
        assert href is not None and f"format={label.lower()}" in href
        fetched = page.evaluate(
            "async (href) => { const r = await fetch(href); return [r.status, await r.text()]; }",
            href,
        )
        assert fetched[0] == 200 and needle in fetched[1], fetched


def test_a_moment_in_the_address_starts_the_player_there(
    new_page: NewPage, stack: Stack, key: str, standard: dict[str, Any]
) -> None:
    page = signed_in_page(new_page, stack, key, f"/jobs/{standard['job_id']}?t=8.6")

    page.wait_for_function(
        "() => { const v = document.querySelector('video');"
        " return v && v.readyState >= 1 && Math.abs(v.currentTime - 8.6) < 0.5; }"
    )
    expect(page.locator(".cue-item.current")).to_contain_text("First, mix the flour")


def test_a_hostile_title_shows_as_text_and_runs_nothing(
    new_page: NewPage, stack: Stack, key: str, offline_youtube: OfflineYouTube
) -> None:
    add_hostile_video(offline_youtube, XSS_VIDEO_ID, XSS_TITLE)
    job = completed_job(stack, key, XSS_VIDEO_ID, transcript_only=False)
    dialogs: list[Dialog] = []
    page = new_page(stack.base_url)
    page.on("dialog", lambda dialog: dialogs.append(dialog))
    sign_in(page, key, f"/jobs/{job['job_id']}")

    expect(page.get_by_role("heading", level=1)).to_have_text(XSS_TITLE)
    # The file names keep what a file system takes of the title.
    expect(page.locator(".files-table")).to_contain_text(
        "script alert(1) script & img src=x onerror=alert(2).mp4"
    )
    assert page.locator("main script, main img[src='x']").count() == 0
    assert page.title() == f"{XSS_TITLE} · yds"
    assert dialogs == []


def test_a_playlist_lists_its_entries_and_a_failed_entry_says_why(
    new_page: NewPage, stack: Stack, key: str, offline_youtube: OfflineYouTube
) -> None:
    offline_youtube.add_playlist(FAMILY_LIST_ID, [PLAYLIST_VIDEO_IDS[2], PRIVATE_VIDEO_ID])
    parent = finished_job(stack, key, offline_youtube.playlist_url(FAMILY_LIST_ID))
    headers = {"X-API-Key": key}
    entries = httpx.get(
        f"{stack.base_url}/api/v1/downloads",
        params={"parent_id": parent["job_id"]},
        headers=headers,
    ).json()["items"]
    failed = next(entry for entry in entries if entry["status"] == "failed")
    page = signed_in_page(new_page, stack, key, f"/jobs/{parent['job_id']}")

    listed = page.locator(".entries .entry")
    expect(listed).to_have_count(2)
    expect(listed.locator(".badge")).to_have_text(["completed", "failed"])
    expect(page.locator(".job-summary")).to_contain_text("2 (1 completed, 1 failed)")
    save_screenshots(page, "job-page-playlist")
    assert_accessible(page, "job-page-playlist")

    listed.nth(1).get_by_role("link").click()

    expect(page).to_have_url(f"{stack.base_url}/jobs/{failed['job_id']}")
    expect(page.get_by_role("alert")).to_contain_text(failed["error"]["code"])
    expect(page.get_by_role("alert")).to_contain_text(failed["error"]["message"])
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    page.get_by_role("link", name="Part of a collection").click()
    expect(page).to_have_url(f"{stack.base_url}/jobs/{parent['job_id']}")


def test_a_running_job_is_followed_live_and_can_be_canceled_and_retried(
    new_page: NewPage, stack: Stack, key: str
) -> None:
    headers = {"X-API-Key": key}
    created = httpx.post(
        f"{stack.base_url}/api/v1/downloads",
        json={"url": stack.youtube.video_url(SLOW_VIDEO_ID)},
        headers=headers,
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    page = new_page(stack.base_url)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, key, f"/jobs/{job_id}")
    status = page.locator(".job-status .badge")

    expect(page.get_by_role("progressbar", name="Progress")).to_be_visible(timeout=30_000)
    expect(status).to_have_text("processing")
    # The bar moves with the download's progress events, without reloading the page.
    page.wait_for_function(
        "() => { const bar = document.querySelector('.job-progress progress');"
        " return bar && bar.value > 0; }",
        timeout=30_000,
    )
    assert f"{stack.base_url}/api/v1/downloads/{job_id}/events" in requested
    page.get_by_role("button", name="Cancel").click()

    expect(status).to_have_text("canceled", timeout=30_000)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    page.get_by_role("button", name="Retry").click()

    expect(status).to_have_text(re.compile("queued|processing"))
    page.get_by_role("button", name="Cancel").click()
    expect(status).to_have_text("canceled", timeout=30_000)


def test_an_audio_download_gets_an_audio_player_beside_its_transcript(
    new_page: NewPage, stack: Stack, key: str
) -> None:
    job = completed_job(stack, key, STANDARD_VIDEO_ID, audio_only=True)
    page = signed_in_page(new_page, stack, key, f"/jobs/{job['job_id']}")

    expect(page.locator("audio")).to_be_visible()
    expect(page.locator("video")).to_have_count(0)
    # Where the seek landed, read when it lands: the player plays on from there, and on a
    # busy machine a later look at currentTime finds it well past the cue.
    page.evaluate(
        """() => document.querySelector('audio').addEventListener(
            'seeked', (e) => { window.seekedTo = e.target.currentTime; }, { once: true })"""
    )
    page.get_by_role("button", name="Then let the dough rest").click()
    page.wait_for_function("() => window.seekedTo !== undefined")
    assert abs(page.evaluate("() => window.seekedTo") - 11.8) <= 0.5


def test_a_running_download_is_paused_and_resumed_from_its_page(
    new_page: NewPage, stack: Stack
) -> None:
    key = stack.key("job-page-pause")
    url = throttled_copy(stack.youtube, "uiPauseJob1", 64 * 1024)
    created = httpx.post(
        f"{stack.base_url}/api/v1/downloads",
        json={"url": url},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    page = signed_in_page(new_page, stack, key, f"/jobs/{job_id}")
    expect(page.get_by_text("processing").first).to_be_visible(timeout=120_000)

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible(timeout=60_000)
    assert (
        httpx.get(
            f"{stack.base_url}/api/v1/downloads/{job_id}", headers={"X-API-Key": key}, timeout=30
        ).json()["status"]
        == "paused"
    )

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Resume")).to_have_count(0)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Delete")).to_be_visible(timeout=60_000)
