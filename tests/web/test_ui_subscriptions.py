"""The subscriptions page in a real browser against a real API and worker: a channel is
previewed, added with only the changed options, checked now (its job link, its counts),
paused and resumed; its podcast feed URL is shown once, copied and revoked; it is deleted
after a confirmation; and the API's refusals show beside their fields."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import look_at
from tests.support.offline_youtube import STANDARD_VIDEO_ID

if TYPE_CHECKING:
    from tests.support.fixtures.browser import NewPage
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
HANDLE = "@uiSubsChannel"
CHANNEL_ID = "UCuiSubsChannelFixture00"
UPLOADS = {"uiSubVid002": "20250402", "uiSubVid001": "20250401"}
NEW_UPLOAD = "uiSubVid003"
GONE_HANDLE = "@uiSubsGoneChannel"
GONE_CHANNEL_ID = "UCuiSubsGoneChannelFix00"
CHECK_TIMEOUT_MS = 120_000
HOSTILE_PATTERN = "(a+)+$"


@pytest.fixture(scope="module")
def channel_url(stack: Stack) -> str:
    """A channel of this module's own, with two uploads."""
    stack.youtube.add_channel(HANDLE, CHANNEL_ID, UPLOADS, title="UI Subs Channel")
    return stack.youtube.channel_url(HANDLE)


def signed_in(new_page: NewPage, stack: Stack, key: str | None = None) -> Page:
    page = new_page(stack.base_url)
    secret = key or stack.key("ui-subs")
    response = page.request.post(f"{stack.base_url}/api/v1/session", data={"api_key": secret})
    assert response.status == 200, response.text()
    page.goto("/subscriptions")
    expect(page.get_by_role("heading", name="Subscriptions", level=1)).to_be_visible()
    return page


def add(page: Page, url: str, name: str, *, backfill: int | None = None) -> None:
    page.get_by_label("Channel or playlist URL").fill(url)
    page.get_by_label("Name (optional)").fill(name)
    if backfill is not None:
        page.get_by_label("Existing uploads to download").fill(str(backfill))
    page.get_by_role("button", name="Subscribe").click()


def test_a_channel_is_added_checked_paused_and_deleted(
    new_page: NewPage, stack: Stack, channel_url: str
) -> None:
    page = signed_in(new_page, stack)
    expect(page.locator(".subs-summary")).to_have_text(re.compile("No subscriptions yet"))
    page.get_by_label("Channel or playlist URL").fill(channel_url)
    expect(page.locator(".preview")).to_contain_text("2 videos")
    page.get_by_label("Name (optional)").fill("Talks <b>bold</b>")
    page.get_by_label("Audio only").check()
    page.get_by_label("Existing uploads to download").fill("1")
    with page.expect_request("**/api/v1/subscriptions") as sent:
        page.get_by_role("button", name="Subscribe").click()
    assert sent.value.post_data_json == {
        "url": channel_url,
        "name": "Talks <b>bold</b>",
        "options": {"audio_only": True},
        "backfill": 1,
    }

    card = page.locator("li.subscription")
    expect(card).to_have_count(1)
    expect(card.get_by_role("heading", level=3)).to_have_text("Talks <b>bold</b>")  # as text
    expect(page.get_by_label("Channel or playlist URL")).to_have_value("")  # ready for another
    # Adding it started the first check, which takes the newest upload (backfill 1); the
    # card is read again until that check ends.
    expect(card.locator(".sub-badge")).to_have_text("Active", timeout=CHECK_TIMEOUT_MS)
    expect(card.locator(".sub-counts")).to_contain_text("1 downloaded")
    expect(card.locator("dd").first).to_have_text(re.compile(r"\d"))  # the last check's time

    stack.youtube.add_channel_video(HANDLE, NEW_UPLOAD, "20250410")
    card.get_by_role("button", name="Check now").click()
    expect(card.locator(".sub-check")).to_contain_text("Check started")
    link = card.get_by_role("link", name="View the check job")
    expect(link).to_have_attribute("href", re.compile(r"^/jobs/[0-9a-f-]{36}$"))
    check_href = link.get_attribute("href") or ""
    expect(card.locator(".check-state")).to_have_text("completed", timeout=CHECK_TIMEOUT_MS)
    expect(card.locator(".sub-counts")).to_contain_text("2 downloaded")  # only the new one

    card.get_by_role("button", name="Pause").click()
    expect(card.locator(".sub-badge")).to_have_text("Paused")
    expect(card.get_by_role("button", name="Resume")).to_be_focused()  # where Pause was
    page.reload()  # what the API keeps, not what the page remembers
    expect(card.locator(".sub-badge")).to_have_text("Paused")
    card.get_by_role("button", name="Resume").click()
    expect(card.locator(".sub-badge")).to_have_text("Active")

    card.get_by_role("button", name="Delete").click()
    question = card.get_by_role("group", name=re.compile("^Delete"))
    expect(question).to_contain_text("what it downloaded stays")
    question.get_by_role("button", name="Cancel").click()
    expect(card).to_have_count(1)
    card.get_by_role("button", name="Delete").click()
    card.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("li.subscription")).to_have_count(0)
    expect(page.locator(".subs-summary")).to_have_text(re.compile("No subscriptions yet"))
    expect(page.get_by_role("heading", name="Your subscriptions")).to_be_focused()
    page.goto(check_href)  # the check and what it downloaded stay
    entries = page.locator("li.entry")
    expect(entries).to_have_count(1)
    expect(entries.locator(".badge")).to_have_text("completed")


def test_a_failed_check_shows_its_error(new_page: NewPage, stack: Stack) -> None:
    stack.youtube.add_channel(GONE_HANDLE, GONE_CHANNEL_ID, {"uiSubGone01": "20250501"})
    key = stack.key("ui-subs-gone")
    page = signed_in(new_page, stack, key)
    add(page, stack.youtube.channel_url(GONE_HANDLE), "Soon gone")
    card = page.locator("li.subscription")
    expect(card.locator(".sub-badge")).to_have_text("Active", timeout=CHECK_TIMEOUT_MS)

    del stack.youtube.catalog["channels"][GONE_HANDLE]  # a channel of this test's own
    stack.youtube.save_catalog()
    card.get_by_role("button", name="Check now").click()
    expect(card.locator(".check-state")).to_have_text("failed", timeout=CHECK_TIMEOUT_MS)
    expect(card.locator(".sub-badge")).to_have_text("Last check failed")
    listed = httpx.get(f"{stack.base_url}/api/v1/subscriptions", headers={"X-API-Key": key})
    error = listed.json()["items"][0]["last_error"]
    assert error and error["message"], listed.text
    expect(card.locator(".sub-error")).to_have_text(error["message"])


def test_the_feed_url_is_shown_once_copied_and_revoked(
    new_page: NewPage, stack: Stack, channel_url: str
) -> None:
    page = signed_in(new_page, stack)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    add(page, channel_url, "Podcast")
    card = page.locator("li.subscription")
    card.get_by_label("Feed media").select_option("audio")
    card.get_by_role("button", name="Enable feed").click()

    url_box = card.get_by_label("Audio feed URL")
    expect(url_box).to_have_value(re.compile(rf"^{re.escape(stack.base_url)}/feeds/\S+\.xml$"))
    feed_url = url_box.input_value()
    expect(card.locator(".feed-box")).to_contain_text("shown only this once")
    card.get_by_role("button", name="Copy").click()
    expect(card.locator(".feed-box [role=status]")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == feed_url
    expect(card.locator(".sub-facts")).to_contain_text("On (audio)")
    feed = httpx.get(feed_url)  # no key, as a podcast app fetches it
    assert feed.status_code == 200 and "<rss" in feed.text

    card.get_by_role("button", name="Done").click()
    expect(card.locator(".feed-box")).to_have_count(0)
    page.reload()
    expect(card.locator(".sub-facts")).to_contain_text("On (audio)")
    assert feed_url not in page.content(), "the URL is shown only once"

    card.get_by_role("button", name="Revoke feed").click()
    expect(card.locator(".sub-notice")).to_have_text("Feed revoked: its URL no longer works.")
    expect(card.locator(".sub-facts")).to_contain_text("Off")
    assert httpx.get(feed_url).status_code == 404


def test_the_apis_refusals_show_beside_their_fields(
    new_page: NewPage, stack: Stack, channel_url: str
) -> None:
    key = stack.key("ui-subs-refusals")
    page = signed_in(new_page, stack, key)
    video = stack.youtube.video_url(STANDARD_VIDEO_ID)
    page.get_by_label("Channel or playlist URL").fill(video)
    expect(page.locator(".preview")).to_contain_text("single video")
    page.get_by_role("button", name="Subscribe").click()
    refused = httpx.post(
        f"{stack.base_url}/api/v1/subscriptions", json={"url": video}, headers={"X-API-Key": key}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_subscription_url"
    expect(page.locator("#sub-url-error")).to_have_text(refused.json()["error"]["message"])
    expect(page.get_by_label("Channel or playlist URL")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Channel or playlist URL").fill(channel_url)
    page.get_by_label("Title matches").fill(HOSTILE_PATTERN)
    page.get_by_role("button", name="Subscribe").click()
    hostile = httpx.post(
        f"{stack.base_url}/api/v1/subscriptions",
        json={"url": channel_url, "filters": {"title_include": HOSTILE_PATTERN}},
        headers={"X-API-Key": key},
    )
    assert hostile.status_code == 422 and hostile.json()["error"]["code"] == "invalid_pattern"
    error = hostile.json()["error"]
    shown = error["details"][0]["msg"] if error.get("details") else error["message"]
    expect(page.locator("#sub-title_include-error")).to_have_text(shown)
    expect(page.get_by_label("Title matches")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Title matches")).to_have_value(HOSTILE_PATTERN)  # nothing lost

    page.get_by_label("Title matches").fill("")
    page.get_by_label("Check every (minutes)").fill("1")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#sub-check_interval_minutes-error")).not_to_be_empty()
    expect(page.get_by_label("Check every (minutes)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("li.subscription")).to_have_count(0)


def test_another_key_sees_none_of_them(new_page: NewPage, stack: Stack, channel_url: str) -> None:
    owner = stack.key("ui-subs-owner")
    made = httpx.post(
        f"{stack.base_url}/api/v1/subscriptions",
        json={"url": channel_url, "name": "Owner's"},
        headers={"X-API-Key": owner},
    )
    assert made.status_code == 201, made.text
    page = signed_in(new_page, stack)
    expect(page.locator(".subs-summary")).to_have_text(re.compile("No subscriptions yet"))
    expect(page.get_by_text("Owner's")).to_have_count(0)


def test_the_subscriptions_page_looks_right_and_is_accessible(
    new_page: NewPage, stack: Stack, channel_url: str
) -> None:
    page = signed_in(new_page, stack)
    add(page, channel_url, "A channel with a rather long name to see how it wraps on a phone")
    card = page.locator("li.subscription")
    expect(card).to_have_count(1)
    add(page, stack.youtube.playlist_url(), "A playlist")
    expect(page.locator("li.subscription")).to_have_count(2)
    card.first.get_by_role("button", name="Pause").click()
    expect(card.first.locator(".sub-badge")).to_have_text("Paused")
    card.last.get_by_role("button", name="Enable feed").click()
    expect(card.last.locator(".feed-box")).to_be_visible()
    look_at(page, "subscriptions", dark_too=True)


def test_a_subscriptions_priority_is_chosen_and_shown(
    new_page: NewPage, stack: Stack, channel_url: str
) -> None:
    page = signed_in(new_page, stack, stack.key("ui-subs-priority"))
    page.get_by_label("Channel or playlist URL").fill(channel_url)
    expect(page.get_by_label("Priority")).to_have_value("normal")
    page.get_by_label("Priority").select_option("low")
    with page.expect_request("**/api/v1/subscriptions") as sent:
        page.get_by_role("button", name="Subscribe").click()
    assert sent.value.post_data_json == {"url": channel_url, "priority": "low"}
    card = page.locator("li.subscription")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("low priority")
