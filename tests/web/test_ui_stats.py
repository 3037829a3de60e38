"""The stats page: a key's jobs by status, the storage its files take and what the library
can find, as GET /api/v1/stats reports them; an empty state for a new key; the chart of
jobs over time with its table, as GET /api/v1/stats/timeseries reports them."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import assert_accessible, save_screenshots
from tests.support.factories import create_key
from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import PRIVATE_VIDEO_ID, STANDARD_VIDEO_ID

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.support.fixtures.browser import NewPage
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def sign_in(page: Page, base_url: str, secret: str) -> None:
    response = page.request.post(f"{base_url}/api/v1/session", data={"api_key": secret})
    assert response.status == 200, response.text()


async def download(stack: Stack, secret: str, video_ids: list[str]) -> list[str]:
    """Submits each video and waits for every job to end; their final statuses."""
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        jobs = [await submit(http, secret, stack.youtube.video_url(v)) for v in video_ids]
        for job in jobs:
            await watch(stack.ws_url, job["job_id"], key=secret)  # until the job ends
        return [(await fetch_job(http, secret, job["job_id"]))["status"] for job in jobs]


def downloaded(stack: Stack, secret: str, video_ids: list[str]) -> list[str]:
    """`download` from synchronous code: Playwright's sync API keeps an event loop running
    in this thread, so the downloads get a thread of their own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, download(stack, secret, video_ids)).result()


@pytest.fixture(scope="module")
def busy_key(stack: Stack) -> tuple[str, dict[str, Any]]:
    """A key with one completed and one failed download: (secret, its stats from the API)."""
    secret = create_key(stack.database_url, "Stats Busy").secret
    statuses = downloaded(stack, secret, [STANDARD_VIDEO_ID, PRIVATE_VIDEO_ID])
    assert statuses == ["completed", "failed"]
    stats = httpx.get(f"{stack.base_url}/api/v1/stats", headers={"X-API-Key": secret})
    assert stats.status_code == 200, stats.text
    body: dict[str, Any] = stats.json()
    return secret, body


def test_a_new_key_sees_the_empty_state(stack: Stack, new_page: NewPage) -> None:
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, create_key(stack.database_url, "Stats Newcomer").secret)
    page.goto("/stats")

    expect(page.get_by_role("heading", name="Stats", level=1)).to_be_visible()
    expect(page.locator("#stats-total-jobs")).to_have_text("0")
    expect(page.get_by_text("This key has no downloads yet.")).to_be_visible()
    expect(page.get_by_role("link", name="Download a video")).to_have_attribute("href", "/submit")
    expect(page.locator(".stat", has_text="Storage used").locator(".stat-value")).to_have_text(
        "0 B"
    )
    expect(page.locator("table.stats-table")).to_have_count(0)
    save_screenshots(page, "stats-empty")
    assert_accessible(page, "stats-empty")


def test_the_figures_match_the_api(
    stack: Stack, new_page: NewPage, busy_key: tuple[str, dict[str, Any]]
) -> None:
    secret, stats = busy_key
    assert stats["total_jobs"] == 2 and stats["bytes_stored"] > 0
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, secret)
    page.goto("/stats")

    expect(page.locator("#stats-total-jobs")).to_have_text("2")
    rows = page.locator("table.stats-table tbody tr")
    expect(rows).to_have_count(len(stats["jobs_by_status"]))
    for status, count in stats["jobs_by_status"].items():
        row = page.locator(f'table.stats-table tr[data-status="{status}"]')
        expect(row.locator("td.figure")).to_have_text(str(count))
        bar = row.get_by_role("meter")
        expect(bar).to_have_attribute("value", str(count))
        expect(bar).to_have_attribute("max", "2")
    expect(page.locator('tr[data-status="completed"] td.figure')).to_have_text("1")
    expect(page.locator('tr[data-status="failed"] td.figure')).to_have_text("1")

    storage = page.locator(".stat", has_text="Storage used")
    expect(storage).to_contain_text(f"{stats['bytes_stored']:,} bytes")
    expect(storage.locator(".stat-value")).to_have_text(human_bytes(stats["bytes_stored"]))
    files = page.locator(".stat", has_text="Files kept").locator(".stat-value")
    expect(files).to_have_text(f"{stats['files_stored']:,}")
    library = page.locator(".stat", has_text="Searchable in the library").locator(".stat-value")
    expect(library).to_have_text(str(stats["library_entries"]))
    save_screenshots(page, "stats")
    assert_accessible(page, "stats")


def test_refresh_shows_new_jobs(stack: Stack, new_page: NewPage) -> None:
    secret = create_key(stack.database_url, "Stats Refresher").secret
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, secret)
    page.goto("/stats")
    expect(page.locator("#stats-total-jobs")).to_have_text("0")
    chart = page.get_by_role("img", name=re.compile(r"^Completed and failed jobs by day"))
    expect(chart).to_have_attribute("aria-label", re.compile(r"0 completed, 0 failed\.$"))

    assert downloaded(stack, secret, [PRIVATE_VIDEO_ID]) == ["failed"]
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#stats-total-jobs")).to_have_text("1")
    expect(chart).to_have_attribute("aria-label", re.compile(r"0 completed, 1 failed\.$"))
    expect(page.locator('tr[data-status="failed"] td.figure')).to_have_text("1")
    expect(page.locator("#main").get_by_role("status")).to_contain_text("Updated")


def test_a_key_without_the_read_scope_is_told_why(stack: Stack, new_page: NewPage) -> None:
    secret = create_key(stack.database_url, "Stats Admin Only", scopes=["admin"]).secret
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, secret)
    page.goto("/stats")
    expected = httpx.get(f"{stack.base_url}/api/v1/stats", headers={"X-API-Key": secret})
    assert expected.status_code == 403
    expect(page.get_by_role("alert")).to_have_text(expected.json()["error"]["message"])


def human_bytes(n: int) -> str:
    """format.js's bytes(): decimal units, one decimal under 100."""
    units = ["B", "KB", "MB", "GB", "TB"]
    value, unit = float(n), 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    text = str(round(value)) if value >= 100 or unit == 0 else f"{value:.1f}"
    return f"{text} {units[unit]}"


def test_the_chart_shows_completed_and_failed_jobs_per_bucket(
    stack: Stack, new_page: NewPage, busy_key: tuple[str, dict[str, Any]]
) -> None:
    secret, _ = busy_key
    series = httpx.get(
        f"{stack.base_url}/api/v1/stats/timeseries", headers={"X-API-Key": secret}
    ).json()
    assert (series["totals"]["completed"], series["totals"]["failed"]) == (1, 1)
    [code] = series["totals"]["failed_by_code"]
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, secret)
    page.goto("/stats")

    chart = page.get_by_role("img", name=re.compile(r"^Completed and failed jobs by day"))
    expect(chart).to_have_attribute("aria-label", re.compile(r"1 completed, 1 failed\.$"))
    expect(chart.locator("rect.trend-bar.completed")).to_have_count(31)
    table = page.locator("table.trend-table")
    expect(table.locator("tbody tr")).to_have_count(31)
    for bucket in series["buckets"]:
        row = table.locator(f'tbody tr[data-start="{bucket["start"]}"]')
        for name in ("created", "completed", "failed"):
            expect(row.locator(f"td.{name}")).to_have_text(
                re.compile(rf"^{bucket[name]}(\D|$)"), use_inner_text=False
            )
        bar = chart.locator(f'rect[data-start="{bucket["start"]}"][data-series="completed"]')
        expect(bar).to_have_attribute("data-count", str(bucket["completed"]))
    totals = table.locator("tfoot tr")
    expect(totals.locator("td.completed")).to_have_text("1", use_inner_text=False)
    expect(totals.locator("td.failed")).to_contain_text(f"{code} 1", use_inner_text=False)
    page.get_by_text("Show the figures as a table").click()
    expect(totals.locator("td.created")).to_have_text("2")
    assert_accessible(page, "stats-trends")

    page.get_by_label("By hour, last 48 hours").check()
    hourly = page.get_by_role("img", name=re.compile(r"^Completed and failed jobs by hour"))
    expect(hourly).to_have_attribute("aria-label", re.compile(r"1 completed, 1 failed\.$"))
    expect(page.locator("table.trend-table tbody tr")).to_have_count(48)
    expect(page.locator("table.trend-table tfoot td.completed")).to_have_text(
        "1", use_inner_text=False
    )
    save_screenshots(page, "stats-trends")
