"""The recovery page in a real browser against a real API and worker: downloads that really
failed on the offline site are grouped by error code with their hint and newest job; "Retry
these" brings back one group (which completes once its video plays again) and "Retry all"
the rest; a new key sees that there is nothing to recover."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from app.jobs.hints import FAILURE_HINTS
from tests.support.browser import look_at
from tests.support.factories import create_key
from tests.support.offline_youtube import REMOVED_VIDEO_ID, STANDARD_VIDEO_ID

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.support.fixtures.browser import NewPage
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
FIXED_LATER_ID = "uiRecover01"  # private at first, playable once the test says so
JOB_TIMEOUT = 120


def sign_in(page: Page, base_url: str, secret: str) -> None:
    response = page.request.post(f"{base_url}/api/v1/session", data={"api_key": secret})
    assert response.status == 200, response.text()


def submit(stack: Stack, key: str, video_id: str) -> str:
    response = httpx.post(
        f"{stack.base_url}/api/v1/downloads",
        json={"url": stack.youtube.video_url(video_id), "quality": "360p"},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def job(stack: Stack, key: str, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(
        f"{stack.base_url}/api/v1/downloads/{job_id}", headers={"X-API-Key": key}, timeout=30
    ).json()
    return found


def ended(stack: Stack, key: str, job_id: str, *, after: str | None = None) -> dict[str, Any]:
    """The job once it has ended (after `after`, its previous end, when given)."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        current = job(stack, key, job_id)
        over = current["status"] in ("completed", "failed", "canceled")
        if over and current["completed_at"] != after:
            return current
        assert time.monotonic() < deadline, current
        time.sleep(0.2)


def test_failures_are_grouped_and_retried_from_the_page(stack: Stack, new_page: NewPage) -> None:
    key = create_key(stack.database_url, "Recovery User").secret
    stack.youtube.set_entry(FIXED_LATER_ID, {"error": "private"})
    private = submit(stack, key, FIXED_LATER_ID)
    removed = submit(stack, key, REMOVED_VIDEO_ID)
    first = ended(stack, key, private)
    assert first["error"]["code"] == "video_private"
    assert ended(stack, key, removed)["error"]["code"] == "video_unavailable"

    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, key)
    page.goto("/recovery")
    expect(page.get_by_role("heading", name="Recovery", level=1)).to_be_visible()
    expect(page.locator(".recovery-total")).to_have_text(
        "2 jobs failed or canceled, by error code:"
    )
    private_card = page.locator("li.failure-group[data-code='video_private']")
    removed_card = page.locator("li.failure-group[data-code='video_unavailable']")
    expect(private_card.get_by_role("heading")).to_have_text("video_private 1 job")
    expect(private_card.locator(".failure-hint")).to_have_text(FAILURE_HINTS["video_private"])
    expect(removed_card.locator(".failure-hint")).to_have_text(FAILURE_HINTS["video_unavailable"])
    expect(private_card.locator(".failure-title a")).to_have_attribute("href", f"/jobs/{private}")
    expect(private_card.locator(".failure-message")).to_contain_text("Private video")
    expect(page.locator("#nav a[aria-current='page']")).to_have_text("Recovery")
    look_at(page, "recovery")

    entry = copy.deepcopy(stack.youtube.catalog["videos"][STANDARD_VIDEO_ID])
    stack.youtube.set_entry(FIXED_LATER_ID, {**entry, "id": FIXED_LATER_ID})
    private_card.get_by_role("button", name="Retry these").click()
    expect(page.locator(".page-actions [role='status']")).to_have_text("Retried 1 job.")
    expect(private_card).to_have_count(0)  # back in the queue: no longer a failure
    expect(page.locator(".recovery-total")).to_have_text("1 job failed or canceled, by error code:")
    assert ended(stack, key, private, after=first["completed_at"])["status"] == "completed"
    assert job(stack, key, removed)["status"] == "failed"  # only the group asked for

    page.get_by_role("button", name="Retry all").click()
    expect(page.locator(".page-actions [role='status']")).to_have_text("Retried 1 job.")
    ended(stack, key, removed)  # it fails again (the video is gone), and shows up again
    page.get_by_role("button", name="Refresh").click()
    expect(removed_card.get_by_role("heading")).to_have_text("video_unavailable 1 job")


def test_a_new_key_has_nothing_to_recover(stack: Stack, new_page: NewPage) -> None:
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, create_key(stack.database_url, "Recovery Newcomer").secret)
    page.goto("/recovery")
    expect(page.get_by_text("No failed or canceled downloads: nothing to recover.")).to_be_visible()
    expect(page.get_by_role("button", name="Retry all")).to_be_hidden()
    look_at(page, "recovery-empty")
