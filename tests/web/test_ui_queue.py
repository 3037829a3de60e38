"""The queue page in a real browser against a real API and worker: attacker-controlled
titles stay text, a reload in the middle of a download picks the bar up where it was, and
the page is accessible at a phone's and a desktop's size."""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis
from playwright.sync_api import Dialog, Page, WebSocketRoute, expect

from app.core.config import Settings
from app.core.database import create_sync_engine, sync_sessionmaker
from app.downloads import reconciler
from app.storage.local import LocalStorageHandler
from app.worker.context import WorkerContext
from tests.support.browser import look_at
from tests.support.faults import throttled_copy
from tests.support.offline_youtube import PLAYLIST_ID, PRIVATE_VIDEO_ID, STANDARD_VIDEO_ID

if TYPE_CHECKING:
    from tests.support.fixtures.browser import NewPage
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
HOSTILE_ID = "uiHostile01"
HOSTILE_TITLE = '<script>alert(1)</script><img src=x onerror="alert(2)"> & friends'
RELOAD_ID = "uiReloadBr1"
ACTIONS_ID = "uiActions01"
PAUSE_ID = "uiPauseRes1"
BUSY_IDS = ("uiBusySlot1", "uiBusySlot2")
DROPPED_ID = "uiDropped01"
RATE = 64 * 1024  # slow enough to reload in the middle of the download
JOB_TIMEOUT_MS = 120_000


RECORD_VALUES = """window.seenValues = [];
new MutationObserver(() => {
    const bar = document.querySelector("li.job progress");
    if (bar) window.seenValues.push(bar.value);
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ["value"]});"""


def signed_in(new_page: NewPage, stack: Stack, key: str, page: Page | None = None) -> Page:
    page = page or new_page(stack.base_url)
    page.goto("/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    return page


def submit(stack: Stack, key: str, url: str) -> dict[str, Any]:
    response = httpx.post(
        f"{stack.base_url}/api/v1/downloads",
        json={"url": url},
        headers={"X-API-Key": key},
        timeout=30,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_a_hostile_title_is_shown_as_text_and_runs_nothing(new_page: NewPage, stack: Stack) -> None:
    entry = copy.deepcopy(stack.youtube.catalog["videos"][STANDARD_VIDEO_ID])
    stack.youtube.set_entry(HOSTILE_ID, {**entry, "id": HOSTILE_ID, "title": HOSTILE_TITLE})
    key = stack.key("hostile")
    submit(stack, key, stack.youtube.video_url(HOSTILE_ID))
    page = signed_in(new_page, stack, key)
    dialogs: list[str] = []

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    card = page.locator("li.job").first
    expect(card.get_by_role("heading")).to_have_text(HOSTILE_TITLE, timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("heading")).to_have_text(HOSTILE_TITLE)
    assert page.locator("main script, main img[src='x']").count() == 0
    page.reload()
    expect(card.get_by_role("heading")).to_have_text(HOSTILE_TITLE)
    assert dialogs == []


def test_a_reload_mid_download_keeps_the_bar_where_it_was(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("reload")
    submit(stack, key, throttled_copy(stack.youtube, RELOAD_ID, rate=RATE))
    page = signed_in(new_page, stack, key)
    bar = page.locator("li.job").first.get_by_role("progressbar")
    page.wait_for_function(
        """() => {
            const bar = document.querySelector("li.job progress");
            return bar && bar.value >= 20 && bar.value < 60;
        }""",
        polling=50,
        timeout=JOB_TIMEOUT_MS,
    )
    before = float(bar.get_attribute("value") or 0)
    # Record every value the bar shows from the first paint after the reload.
    page.add_init_script(RECORD_VALUES)
    page.reload()
    card = page.locator("li.job").first
    expect(card.locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".figure")).to_have_text("100%")
    seen: list[float] = page.evaluate("window.seenValues")
    shown = [value for value in seen if value > 0]
    assert shown, seen
    assert seen[-1] == 100
    # The bar comes back at (or past) where it was, never from 0.
    first = next(iter(v for v in seen if v != 0))
    assert first >= before - 1, (before, seen[:20])
    assert min(seen[seen.index(first) :]) >= before - 1, (before, seen)


def test_the_queue_looks_right_and_is_accessible(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("looks")
    submit(stack, key, stack.youtube.playlist_url(PLAYLIST_ID))
    submit(stack, key, stack.youtube.video_url(PRIVATE_VIDEO_ID))
    submit(stack, key, stack.youtube.video_url(STANDARD_VIDEO_ID))
    page = signed_in(new_page, stack, key)
    cards = page.locator("li.job")
    expect(cards).to_have_count(3)
    expect(cards.nth(0).locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(cards.nth(1).locator(".badge")).to_have_text("failed", timeout=JOB_TIMEOUT_MS)
    expect(cards.nth(1).locator(".job-error")).to_contain_text("Private video")
    family = cards.nth(2)
    expect(family.locator(".job-meta .badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    family.get_by_role("button", name="Show entries").click()
    expect(family.locator("li.entry")).to_have_count(12)
    look_at(page, "queue", dark_too=True)


def test_the_status_filter_is_kept_in_the_url(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("filter")
    submit(stack, key, stack.youtube.video_url(STANDARD_VIDEO_ID))
    page = signed_in(new_page, stack, key)
    expect(page.locator("li.job .badge").first).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"/\?status=failed$"))
    expect(page.get_by_text("No failed jobs.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Status")).to_have_value("failed")
    page.get_by_label("Status").select_option("completed")
    expect(page.locator("li.job")).to_have_count(1)


def test_cancel_retry_and_delete_from_the_queue(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("actions")
    job_id = submit(stack, key, throttled_copy(stack.youtube, ACTIONS_ID, rate=RATE))["job_id"]
    page = signed_in(new_page, stack, key)
    card = page.locator("li.job").first
    expect(card.locator(".badge")).to_have_text("processing", timeout=JOB_TIMEOUT_MS)

    card.get_by_role("button", name="Cancel").click()
    expect(card.locator(".badge")).to_have_text("canceled", timeout=JOB_TIMEOUT_MS)
    card.get_by_role("button", name="Retry").click()
    expect(card.locator(".badge")).not_to_have_text("canceled")
    card.get_by_role("button", name="Cancel").click()
    expect(card.locator(".badge")).to_have_text("canceled", timeout=JOB_TIMEOUT_MS)

    card.get_by_role("button", name="Delete").click()
    card.get_by_role("button", name=re.compile("^Delete .* for good$")).click()
    expect(page.locator("li.job")).to_have_count(0)
    expect(page.get_by_text("Nothing here yet.")).to_be_visible()
    gone = httpx.get(
        f"{stack.base_url}/api/v1/downloads/{job_id}", headers={"X-API-Key": key}, timeout=30
    )
    assert gone.status_code == 404


def test_pause_and_resume_from_the_queue(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("pausing")
    job_id = submit(stack, key, throttled_copy(stack.youtube, PAUSE_ID, rate=RATE))["job_id"]
    page = signed_in(new_page, stack, key)
    card = page.locator("li.job").first
    expect(card.locator(".badge")).to_have_text("processing", timeout=JOB_TIMEOUT_MS)

    card.get_by_role("button", name="Pause").click()
    # "pausing" until the worker stops it, then the live stream's paused event.
    expect(card.locator(".badge")).to_have_text("paused", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("button", name="Pause")).to_have_count(0)
    paused = httpx.get(
        f"{stack.base_url}/api/v1/downloads/{job_id}", headers={"X-API-Key": key}, timeout=30
    )
    assert paused.json()["status"] == "paused"
    page.get_by_label("Status").select_option("paused")
    expect(page.locator("li.job")).to_have_count(1)

    card.get_by_role("button", name="Resume").click()
    expect(card.locator(".badge")).not_to_have_text("paused")
    expect(card.get_by_role("button", name="Resume")).to_have_count(0)
    card.get_by_role("button", name="Cancel").click()
    expect(card.locator(".badge")).to_have_text("canceled", timeout=JOB_TIMEOUT_MS)


def test_a_priority_raised_for_a_long_wait_shows_as_it_happens(
    new_page: NewPage, stack: Stack
) -> None:
    key = stack.key("raised")
    # Slow downloads hold both of the worker's slots: the last job waits its turn, queued.
    jobs = [submit(stack, key, throttled_copy(stack.youtube, v, rate=RATE)) for v in BUSY_IDS]
    waiting = submit(stack, key, stack.youtube.video_url(STANDARD_VIDEO_ID))["job_id"]
    page = signed_in(new_page, stack, key)
    card = page.locator("li.job", has=page.locator(f"a[href='/jobs/{waiting}']"))
    expect(card.locator(".badge")).to_have_text("queued")
    tag = card.locator(".priority-tag")
    expect(tag).to_be_hidden()

    # The reconciler's age boost, on the stack's database and Redis, with a boost so short
    # that this job has waited long enough.
    settings = Settings(
        _env_file=None,
        database_url=stack.database_url,
        redis_url=stack.env["REDIS_URL"],
        download_base_path=stack.storage_dir,
        work_dir=stack.work_dir,
        priority_age_boost_minutes=0.001,
    )
    sent: list[uuid.UUID] = []

    def enqueue(job_id: uuid.UUID, countdown: float, priority: str = "normal") -> None:
        sent.append(job_id)  # the worker's message for it is enough here

    boost = WorkerContext(
        settings=settings,
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url),
        storage=LocalStorageHandler(stack.storage_dir),
        enqueue=enqueue,
    )
    assert reconciler.raise_aged(boost) >= 1 and uuid.UUID(waiting) in sent

    expect(tag).to_have_text("high priority")  # live, from the job's stream
    expect(card.locator(".badge")).to_have_text("queued")
    page.reload()
    expect(tag).to_have_text("high priority")  # and as the API says
    for job_id in [*(job["job_id"] for job in jobs), waiting]:
        httpx.delete(
            f"{stack.base_url}/api/v1/downloads/{job_id}", headers={"X-API-Key": key}, timeout=30
        )


def test_an_action_that_fails_says_why_in_the_apis_words(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("gone")
    job_id = submit(stack, key, stack.youtube.video_url(STANDARD_VIDEO_ID))["job_id"]
    page = signed_in(new_page, stack, key)
    card = page.locator("li.job").first
    expect(card.locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    # Deleted elsewhere (another tab, the CLI) while this page shows it.
    deleted = httpx.delete(
        f"{stack.base_url}/api/v1/downloads/{job_id}", headers={"X-API-Key": key}, timeout=30
    )
    assert deleted.status_code == 204
    card.get_by_role("button", name="Delete").click()
    card.get_by_role("button", name=re.compile("for good$")).click()
    expect(card.get_by_role("alert")).to_have_text("No such job.")


def test_a_dropped_socket_resumes_where_it_was(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("dropped")
    submit(stack, key, throttled_copy(stack.youtube, DROPPED_ID, rate=RATE))
    page = new_page(stack.base_url)
    opened: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()  # passes every message both ways
        opened.append(socket)

    page.route_web_socket(re.compile(r"/ws/progress/"), through)
    page.add_init_script(RECORD_VALUES)
    signed_in(new_page, stack, key, page)
    page.wait_for_function(
        "() => (document.querySelector('li.job progress') || {}).value >= 20",
        polling=50,
        timeout=JOB_TIMEOUT_MS,
    )
    before = len(page.evaluate("window.seenValues"))
    opened[-1].close(code=1006, reason="dropped")  # as a network drop looks to the page

    card = page.locator("li.job").first
    expect(card.locator(".badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".figure")).to_have_text("100%")
    assert len(opened) >= 2, "the page opened the socket again"
    assert re.search(r"[?&]after=\d+", opened[-1].url), opened[-1].url
    seen: list[float] = page.evaluate("window.seenValues")
    assert len(seen) > before, "the bar moved after the drop"
    assert seen == sorted(seen), "never back"


def test_jobs_queued_elsewhere_show_when_the_tab_is_back(new_page: NewPage, stack: Stack) -> None:
    key = stack.key("elsewhere")
    page = signed_in(new_page, stack, key)
    expect(page.get_by_text("Nothing here yet.")).to_be_visible()
    submit(stack, key, stack.youtube.video_url(STANDARD_VIDEO_ID))  # e.g. from the CLI
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("li.job")).to_have_count(1)
    expect(page.locator("li.job .badge")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
