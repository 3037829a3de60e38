"""The library page in a real browser against a real stack: a word said in one video finds
it with the word marked, the hit opens its job page with the player at that moment, the
query survives a reload, empty and refused searches say so, and a hostile title is text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.support.browser import assert_accessible, save_screenshots
from tests.support.offline_youtube import UNIQUE_TRANSCRIPT_WORD, UNIQUE_WORD_VIDEO_ID
from tests.web.test_ui_job import (
    XSS_TITLE,
    add_hostile_video,
    completed_job,
    sign_in,
    signed_in_page,
)

if TYPE_CHECKING:
    from tests.support.fixtures.browser import NewPage
    from tests.support.offline_youtube import OfflineYouTube
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

XSS_LIBRARY_VIDEO_ID = "xssTitleLb1"


@pytest.fixture(scope="module")
def key(stack: Stack) -> str:
    return stack.key("library-page")


@pytest.fixture(scope="module")
def unique(stack: Stack, key: str) -> dict[str, Any]:
    return completed_job(stack, key, UNIQUE_WORD_VIDEO_ID)


def library_search(stack: Stack, key: str, q: str) -> httpx.Response:
    return httpx.get(
        f"{stack.base_url}/api/v1/library", params={"q": q}, headers={"X-API-Key": key}
    )


def test_a_word_of_a_transcript_finds_the_video_and_opens_it_at_that_moment(
    new_page: NewPage, stack: Stack, key: str, unique: dict[str, Any]
) -> None:
    [match] = library_search(stack, key, UNIQUE_TRANSCRIPT_WORD).json()["items"][0]["matches"]
    page = signed_in_page(new_page, stack, key, "/library")
    page.get_by_label("Search titles, channels and transcripts").fill(UNIQUE_TRANSCRIPT_WORD)
    page.get_by_role("button", name="Search").click()

    expect(page).to_have_url(f"{stack.base_url}/library?q={UNIQUE_TRANSCRIPT_WORD}")
    expect(page.get_by_role("status").filter(has_text="match")).to_have_text("1 download matches.")
    expect(page.locator(".hit-snippet mark")).to_have_text([UNIQUE_TRANSCRIPT_WORD])
    save_screenshots(page, "library")
    assert_accessible(page, "library")

    page.reload()  # the query is in the address
    expect(page.get_by_label("Search titles, channels and transcripts")).to_have_value(
        UNIQUE_TRANSCRIPT_WORD
    )
    expect(page.locator(".hit-snippet mark")).to_have_text([UNIQUE_TRANSCRIPT_WORD])

    page.get_by_role("link", name=unique["metadata"]["title"]).click()

    expect(page).to_have_url(
        f"{stack.base_url}/jobs/{unique['job_id']}?t={match['start']:g}&lang=en"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(unique["metadata"]["title"])
    page.wait_for_function(
        "(start) => { const v = document.querySelector('video');"
        " return v && v.readyState >= 1 && Math.abs(v.currentTime - start) < 0.5; }",
        arg=match["start"],
    )
    expect(page.locator(".cue-item.current")).to_contain_text(UNIQUE_TRANSCRIPT_WORD)
    assert page.blocked_requests == []  # type: ignore[attr-defined]


def test_no_match_and_a_refused_query_are_said_in_words(
    new_page: NewPage, stack: Stack, key: str, unique: dict[str, Any]
) -> None:
    page = signed_in_page(new_page, stack, key, "/library?q=nosuchwordanywhere")
    expect(page.locator(".library-empty")).to_have_text("No downloads match “nosuchwordanywhere”.")

    refused = library_search(stack, key, "!!!")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "empty_search_query"
    search = page.get_by_label("Search titles, channels and transcripts")
    search.fill("!!!")
    page.get_by_role("button", name="Search").click()

    expect(page.get_by_role("alert")).to_have_text(refused.json()["error"]["message"])
    expect(search).to_have_attribute("aria-invalid", "true")

    page.go_back()
    expect(page.locator(".library-empty")).to_be_visible()


def test_a_hostile_title_is_listed_as_text(
    new_page: NewPage, stack: Stack, key: str, offline_youtube: OfflineYouTube
) -> None:
    add_hostile_video(offline_youtube, XSS_LIBRARY_VIDEO_ID, XSS_TITLE)
    completed_job(stack, key, XSS_LIBRARY_VIDEO_ID)
    dialogs: list[Dialog] = []
    page: Page = new_page(stack.base_url)
    page.on("dialog", lambda dialog: dialogs.append(dialog))
    sign_in(page, key, "/library%3Fq%3Donerror")

    title = page.locator(".hit-title")
    expect(title).to_have_text(XSS_TITLE)
    expect(title.locator("mark")).to_have_text(["onerror"])
    assert page.locator("main script, main img[src='x']").count() == 0
    assert dialogs == []
