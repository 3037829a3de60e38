"""The submit page in a real browser against a real API and worker: a URL typed into the
form becomes a job whose bar moves to 100 %, a playlist becomes a family with per-entry
state, the API's validation messages show beside their fields, and a share lands on the
form with the shared URL."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import look_at
from tests.support.faults import throttled_copy
from tests.support.offline_youtube import PLAYLIST_ID, STANDARD_VIDEO_ID

if TYPE_CHECKING:
    from tests.support.fixtures.browser import NewPage
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
SLOW_COPY_ID = "uiSubmitBr1"
RATE = 128 * 1024  # bytes/s a connection: the slow clip takes several seconds
JOB_TIMEOUT_MS = 120_000


def signed_in(new_page: NewPage, stack: Stack, path: str = "/") -> Page:
    """A page signed in through the sign-in form with a new key, then at `path`."""
    page = new_page(stack.base_url)
    page.goto(f"/signin?next={path}")
    page.get_by_label("API key").fill(stack.key("ui"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    return page


def submit_url(page: Page, url: str) -> None:
    page.goto("/submit")
    page.get_by_label("YouTube URL").fill(url)
    # The preview's verdict moves the button when it arrives: wait for it, as a user does.
    expect(page.locator(".preview > :not(.loading)")).to_be_visible()
    page.get_by_role("button", name="Download", exact=True).click()


def test_a_submitted_video_shows_its_bar_move_to_100(new_page: NewPage, stack: Stack) -> None:
    url = throttled_copy(stack.youtube, SLOW_COPY_ID, rate=RATE)
    page = signed_in(new_page, stack)
    submit_url(page, url)

    expect(page).to_have_url(re.compile(r"/$"))
    card = page.locator("li.job").first
    bar = card.get_by_role("progressbar")
    # Every value the bar shows, read as it changes, until the job ends.
    page.wait_for_function(
        """() => {
            const bar = document.querySelector("li.job progress");
            window.seenValues = window.seenValues || [];
            if (bar) window.seenValues.push(bar.value);
            const badge = document.querySelector("li.job .badge");
            return badge && badge.textContent === "completed";
        }""",
        polling=50,
        timeout=JOB_TIMEOUT_MS,
    )
    seen: list[float] = page.evaluate("window.seenValues")
    assert any(0 < value < 100 for value in seen), seen
    expect(bar).to_have_attribute("value", "100")
    expect(card.locator(".figure")).to_have_text("100%")
    expect(card.locator(".badge")).to_have_text("completed")


def test_the_standard_video_completes_from_the_form(new_page: NewPage, stack: Stack) -> None:
    page = signed_in(new_page, stack)
    submit_url(page, stack.youtube.video_url(STANDARD_VIDEO_ID))

    card = page.locator("li.job").first
    expect(card.locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("progressbar")).to_have_attribute("value", "100")
    expect(card.get_by_role("heading")).not_to_have_text(re.compile("^https://"))


def test_a_playlist_becomes_a_family_with_each_entry_state(new_page: NewPage, stack: Stack) -> None:
    page = signed_in(new_page, stack)
    page.goto("/submit")
    page.get_by_label("YouTube URL").fill(stack.youtube.playlist_url(PLAYLIST_ID))
    expect(page.locator(".preview-title")).to_have_text(re.compile("^Offline fixture playlist"))
    expect(page.locator(".preview")).to_contain_text("12 entries")
    expect(page.get_by_label("Entries", exact=True)).to_be_visible()
    page.get_by_role("button", name="Download", exact=True).click()

    card = page.locator("li.job").first
    expect(card.locator(".counts")).to_have_text(
        "12 entries: 10 completed, 2 failed", timeout=JOB_TIMEOUT_MS
    )
    # The parent ends once a worker settles it, after its last entry.
    expect(card.locator(".job-meta .badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    card.get_by_role("button", name="Show entries").click()
    entries = card.locator("li.entry")
    expect(entries).to_have_count(12)
    expect(entries.locator(".badge.completed")).to_have_count(10)
    expect(entries.locator(".badge.failed")).to_have_count(2)
    failed = entries.filter(has=page.locator(".badge.failed"))
    expect(failed.locator(".error")).to_have_count(2)
    for index in range(2):
        expect(failed.locator(".error").nth(index)).to_be_visible()
        expect(failed.locator(".error").nth(index)).not_to_be_empty()


def test_the_apis_validation_messages_show_beside_their_fields(
    new_page: NewPage, stack: Stack
) -> None:
    page = signed_in(new_page, stack)
    page.goto("/submit")
    # Each step waits for the preview's verdict, as a user reads it before clicking: the
    # preview arriving moves the button, and a click at that moment lands beside it.
    page.get_by_label("YouTube URL").fill(stack.youtube.playlist_url(PLAYLIST_ID))
    expect(page.locator(".preview-title")).to_have_text(re.compile("^Offline fixture playlist"))
    page.get_by_label("Entries", exact=True).fill("1-x")
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator("#playlist_items-error")).to_contain_text("not a playlist_items selection")
    expect(page.get_by_label("Entries", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Entries", exact=True)).to_have_value("1-x")  # nothing lost

    page.get_by_label("YouTube URL").fill("https://example.com/watch?v=abc")
    expect(page.locator(".preview .error")).to_contain_text("'example.com' is not supported")
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator("#urls-error")).to_contain_text("'example.com' is not supported")
    expect(page.get_by_label("YouTube URL")).to_have_value("https://example.com/watch?v=abc")
    expect(page).to_have_url(re.compile(r"/submit$"))

    # A rule across fields has no one field to stand beside: the form says it.
    page.get_by_label("YouTube URL").fill(stack.youtube.video_url(STANDARD_VIDEO_ID))
    expect(page.locator(".preview-title")).to_be_visible()
    page.get_by_label("Audio only").check()
    page.get_by_label("Transcript only").check()
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator(".form-error")).to_contain_text(
        "transcript_only and audio_only exclude each other"
    )


def test_a_share_lands_on_the_form_with_the_url(new_page: NewPage, stack: Stack) -> None:
    page = signed_in(new_page, stack)
    shared = f"https://youtu.be/{STANDARD_VIDEO_ID}"
    page.goto(f"/share?text=Look%20{shared}")
    expect(page).to_have_url(re.compile(r"/submit\?url="))
    expect(page.get_by_label("YouTube URL")).to_have_value(shared)
    expect(page.locator(".preview-title")).to_be_visible()


def test_the_submit_page_looks_right_and_is_accessible(new_page: NewPage, stack: Stack) -> None:
    page = signed_in(new_page, stack, "/submit")
    page.goto(f"/submit?url={stack.youtube.video_url(STANDARD_VIDEO_ID)}")
    expect(page.locator(".preview-title")).to_be_visible()
    bookmarklet = page.get_by_role("link", name="Download with yds")
    href = bookmarklet.get_attribute("href") or ""
    assert href.startswith("javascript:") and f'"{stack.base_url}/submit?url="' in href
    look_at(page, "submit", dark_too=True)


def test_only_the_changed_options_are_sent(new_page: NewPage, stack: Stack) -> None:
    page = signed_in(new_page, stack)
    page.goto("/submit")
    url = stack.youtube.video_url(STANDARD_VIDEO_ID)
    page.get_by_label("YouTube URL").fill(url)
    page.get_by_label("Audio only").check()
    page.get_by_label("Audio format").select_option("mp3")
    page.get_by_label("Transcript languages").fill("en, de")
    page.get_by_label("md", exact=True).check()
    with page.expect_request("**/api/v1/downloads") as sent:
        page.get_by_role("button", name="Download", exact=True).click()
    assert sent.value.post_data_json == {
        "url": url,
        "audio_only": True,
        "audio_format": "mp3",
        "subtitle_languages": ["en", "de"],
        "subtitle_formats": ["srt", "vtt", "txt", "json", "md"],
    }
    card = page.locator("li.job").first
    expect(card.locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)


def test_several_urls_go_as_a_batch_and_the_refused_ones_stay(
    new_page: NewPage, stack: Stack
) -> None:
    page = signed_in(new_page, stack)
    good = stack.youtube.video_url(STANDARD_VIDEO_ID)
    bad = "https://example.com/clip"
    submit_url(page, f"{good}\n{bad}")
    result = page.locator(".batch-result")
    expect(result.get_by_role("heading")).to_have_text("1 queued, 1 refused")
    expect(result.locator("li")).to_contain_text("'example.com' is not supported")
    expect(page.get_by_label("YouTube URL")).to_have_value(bad)  # left to fix
    result.get_by_role("link", name="See the queue").click()
    expect(page.locator("li.job .kind")).to_have_text("Batch")


def test_a_priority_is_chosen_in_the_form_and_shown_on_the_queue(
    new_page: NewPage, stack: Stack
) -> None:
    page = signed_in(new_page, stack)
    page.goto("/submit")
    url = stack.youtube.video_url(STANDARD_VIDEO_ID)
    page.get_by_label("YouTube URL").fill(url)
    expect(page.get_by_label("Priority")).to_have_value("normal")
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Transcript only").check()
    with page.expect_request("**/api/v1/downloads") as sent:
        page.get_by_role("button", name="Download", exact=True).click()
    assert sent.value.post_data_json == {"url": url, "priority": "high", "transcript_only": True}

    card = page.locator("li.job").first
    expect(card.locator(".priority-tag")).to_have_text("high priority")
    expect(card.locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    page.reload()  # what the API keeps
    expect(page.locator("li.job").first.locator(".priority-tag")).to_have_text("high priority")
