"""Playlists and channels end to end: a real API and workers expand the offline fixtures into
child jobs and run them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.faults import job, throttled_copy, wait_for
from tests.support.jobs import submit, watch
from tests.support.offline_youtube import (
    CHANNEL_SHORT_DATES,
    CHANNEL_SHORT_IDS,
    CHANNEL_VIDEO_DATES,
    CHANNEL_VIDEO_IDS,
    MISSING_PLAYLIST_ID,
    PLAYLIST_ENTRY_IDS,
    PLAYLIST_ID,
    PLAYLIST_VIDEO_IDS,
    PRIVATE_VIDEO_ID,
    OfflineYouTube,
)
from tests.support.stack import Stack, StartStack
from tests.webhooks.receiver import receiver, verify_signature

pytestmark = pytest.mark.e2e
SMALL = {"include_transcription": False, "include_thumbnail": False, "quality": "360p"}


@pytest.fixture(scope="module")
def playlist_stack(start_stack: StartStack) -> Stack:
    """Two workers (four download slots): room for a concurrency cap to be exceeded."""
    return start_stack("playlists", workers=2, redis_db=4)


@pytest.fixture
async def http(playlist_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=playlist_stack.base_url, timeout=30) as client:
        yield client


async def children(http: httpx.AsyncClient, key: str, parent_id: str) -> list[dict[str, Any]]:
    response = await http.get(
        "/api/v1/downloads",
        params={"parent_id": parent_id, "limit": 100},
        headers={"X-API-Key": key},
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def ended(body: dict[str, Any]) -> bool:
    return body["status"] in ("completed", "failed", "canceled")


async def test_a_playlist_with_a_private_and_a_removed_video_completes_the_rest(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    key = playlist_stack.key()
    parent = await submit(http, key, offline_youtube.playlist_url(), **SMALL)
    assert parent["kind"] == "playlist" and parent["status"] == "queued"
    watched = asyncio.create_task(
        watch(playlist_stack.ws_url, parent["job_id"], key=key, within=240)
    )
    done = await wait_for(http, key, parent["job_id"], ended, within=240)
    assert done["status"] == "completed", done
    assert done["children"] == {
        "total": 12, "queued": 0, "processing": 0, "completed": 10, "failed": 2,
        "canceled": 0, "paused": 0, "skipped": 0,
    }  # fmt: skip
    assert done["progress"] == 100.0
    assert done["metadata"]["title"] and done["details"]["playlist_id"] == PLAYLIST_ID

    entries = await children(http, key, parent["job_id"])
    assert [e["position"] for e in entries] == list(range(1, 13))
    assert [e["metadata"]["video_id"] for e in entries] == list(PLAYLIST_ENTRY_IDS)
    failed = {e["position"]: e["error"]["code"] for e in entries if e["status"] == "failed"}
    assert failed == {4: "video_private", 9: "video_unavailable"}
    assert all(e["parent_id"] == parent["job_id"] for e in entries)
    assert all(e["files"] for e in entries if e["status"] == "completed")

    # The parent's stream: children's events, aggregates, then the parent's end.
    stream = await watched
    assert stream.snapshot["job"]["kind"] == "playlist"
    child_ids = {e["job_id"] for e in entries}
    assert {e["job_id"] for e in stream.events[1:] if e["type"] != "aggregate"} - {
        parent["job_id"]
    } <= child_ids
    aggregates = [e for e in stream.events if e["type"] == "aggregate"]
    assert aggregates and aggregates[-1]["children"]["total"] == 12
    progress = [e["progress"] for e in aggregates]
    assert progress == sorted(progress), "the aggregate never goes back"
    assert stream.final["job_id"] == parent["job_id"] and stream.final["status"] == "completed"
    assert stream.close_code == 1000

    # Retrying the parent re-runs only the two failed entries.
    before = {e["job_id"]: e for e in entries}
    response = await http.post(
        f"/api/v1/downloads/{parent['job_id']}/retry", headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    again = await wait_for(http, key, parent["job_id"], ended, within=120)
    assert again["status"] == "completed" and again["children"]["failed"] == 2
    for entry in await children(http, key, parent["job_id"]):
        if entry["status"] == "completed":
            assert entry["completed_at"] == before[entry["job_id"]]["completed_at"]
            assert entry["attempts"] == before[entry["job_id"]]["attempts"]
        else:
            assert entry["completed_at"] != before[entry["job_id"]]["completed_at"]


async def test_playlist_items_selects_exactly_the_asked_entries(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    key = playlist_stack.key()
    url = offline_youtube.playlist_url()
    parent = await submit(http, key, url, playlist_items="1-3,8", **SMALL)
    assert parent["collection"]["playlist_items"] == "1-3,8"
    done = await wait_for(http, key, parent["job_id"], ended, within=120)
    assert done["status"] == "completed" and done["children"]["total"] == 4
    entries = await children(http, key, parent["job_id"])
    assert [e["position"] for e in entries] == [1, 2, 3, 8]
    expected = [PLAYLIST_ENTRY_IDS[i - 1] for i in (1, 2, 3, 8)]
    assert [e["metadata"]["video_id"] for e in entries] == expected

    # max_items stops after that many entries; a negative selection counts from the end.
    capped = await submit(http, key, url, max_items=2, **SMALL)
    tail = await submit(http, key, url, playlist_items="-2:", **SMALL)
    for parent_id, positions in ((capped["job_id"], [1, 2]), (tail["job_id"], [11, 12])):
        await wait_for(http, key, parent_id, ended, within=120)
        assert [e["position"] for e in await children(http, key, parent_id)] == positions


def overlap(intervals: list[tuple[str, str]]) -> int:
    """The most intervals open at one instant (ISO timestamps sort as text within a run)."""
    points = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in points:
        running += step
        peak = max(peak, running)
    return peak


async def test_never_more_children_processing_than_the_concurrency_cap(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    ids = [f"capSlow{n:04d}" for n in range(6)]
    for video_id in ids:
        throttled_copy(offline_youtube, video_id, 400_000)
    offline_youtube.add_playlist("PLconcurrencyCapFixture0001", ids)
    key = playlist_stack.key()
    url = offline_youtube.playlist_url("PLconcurrencyCapFixture0001")
    parent = await submit(http, key, url, concurrency=2, **SMALL)
    await wait_for(http, key, parent["job_id"], lambda j: j["children"]["processing"] == 2)
    # The entries beyond the cap say why they wait; the running ones say nothing.
    entries = await children(http, key, parent["job_id"])
    reasons = {(e["status"], e["waiting_reason"]) for e in entries}
    assert reasons == {("processing", None), ("queued", "concurrency_cap")}, reasons
    seen_processing = 0
    while not ended(current := await job(http, key, parent["job_id"])):
        seen_processing = max(seen_processing, current["children"]["processing"])
        assert current["children"]["processing"] <= 2
        await asyncio.sleep(0.1)
    assert current["status"] == "completed" and current["children"]["completed"] == 6
    entries = await children(http, key, parent["job_id"])
    peak = overlap([(e["started_at"], e["completed_at"]) for e in entries])
    assert peak == 2 == max(seen_processing, peak), "two at a time, never three (4 slots free)"


async def test_cancel_on_the_parent_cancels_its_entries_and_retry_resumes_only_those(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    slow = [f"cancelSlw{n:02d}" for n in range(3)]  # YouTube ids have 11 characters
    for video_id in slow:
        throttled_copy(offline_youtube, video_id, 150_000)
    list_id = "PLcancelRetryFixture000001"
    offline_youtube.add_playlist(list_id, ["cancelFst01", *slow])
    key = playlist_stack.key()
    parent = await submit(http, key, offline_youtube.playlist_url(list_id), concurrency=1, **SMALL)
    # The fast first entry completes; the first slow one is downloading.
    await wait_for(
        http,
        key,
        parent["job_id"],
        lambda p: p.get("children", {}).get("completed") == 1 and p["children"]["processing"] == 1,
        within=60,
    )
    response = await http.delete(
        f"/api/v1/downloads/{parent['job_id']}", headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.text
    canceled = await wait_for(http, key, parent["job_id"], ended, within=60)
    assert canceled["status"] == "canceled"
    assert canceled["children"] | {"skipped": 0} == {
        "total": 4, "queued": 0, "processing": 0, "completed": 1, "failed": 0,
        "canceled": 3, "paused": 0, "skipped": 0,
    }  # fmt: skip
    first = (await children(http, key, parent["job_id"]))[0]

    response = await http.post(
        f"/api/v1/downloads/{parent['job_id']}/retry", headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.text
    for video_id in slow:  # full speed this time
        throttled_copy(offline_youtube, video_id, 50_000_000)
    done = await wait_for(http, key, parent["job_id"], ended, within=120)
    assert done["status"] == "completed" and done["children"]["completed"] == 4
    again = (await children(http, key, parent["job_id"]))[0]
    assert again["completed_at"] == first["completed_at"], "the completed entry is kept"

    # Nothing left to retry: a clear 409.
    response = await http.post(
        f"/api/v1/downloads/{parent['job_id']}/retry", headers={"X-API-Key": key}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_not_retryable"


async def test_skip_existing_downloads_only_what_is_new(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    list_id = "PLskipExistingFixture00001"
    offline_youtube.add_playlist(list_id, ["skipVideo01", "skipVideo02", "skipVideo03"])
    key = playlist_stack.key()
    url = offline_youtube.playlist_url(list_id)

    async def run() -> dict[str, Any]:
        parent = await submit(http, key, url, skip_existing=True, **SMALL)
        return await wait_for(http, key, parent["job_id"], ended, within=120)

    first = await run()
    assert first["status"] == "completed" and first["children"]["completed"] == 3

    rerun = await run()
    assert rerun["status"] == "completed"
    assert rerun["children"]["total"] == 0 and rerun["children"]["skipped"] == 3
    assert {s["reason"] for s in rerun["details"]["skipped"]} == {"already_downloaded"}

    # Other options are another download: nothing is skipped.
    other = await submit(http, key, url, skip_existing=True, **{**SMALL, "quality": "worst"})
    other = await wait_for(http, key, other["job_id"], ended, within=120)
    assert other["children"]["completed"] == 3 and other["children"]["skipped"] == 0

    offline_youtube.add_playlist_entry(list_id, "skipVideo04")
    latest = await run()
    assert latest["children"]["total"] == 1 and latest["children"]["skipped"] == 3
    (new,) = await children(http, key, latest["job_id"])
    assert new["metadata"]["video_id"] == "skipVideo04" and new["status"] == "completed"


async def test_a_watch_url_with_a_list_is_one_video_unless_playlist_is_set(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    key = playlist_stack.key()
    url = offline_youtube.video_url(PLAYLIST_ENTRY_IDS[0], list_id=PLAYLIST_ID)
    single = await submit(http, key, url, **SMALL)
    assert single["kind"] == "video"
    whole = await submit(http, key, url, playlist=True, max_items=2, **SMALL)
    assert whole["kind"] == "playlist" and whole["url"].endswith(f"list={PLAYLIST_ID}")
    done = await wait_for(http, key, single["job_id"], ended, within=60)
    assert done["status"] == "completed"
    assert done["metadata"]["video_id"] == PLAYLIST_ENTRY_IDS[0]
    whole = await wait_for(http, key, whole["job_id"], ended, within=60)
    assert whole["children"]["completed"] == 2


async def test_a_channel_with_dates_downloads_only_the_uploads_between_them(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    key = playlist_stack.key()
    inside = {
        video_id
        for video_id, day in {**CHANNEL_VIDEO_DATES, **CHANNEL_SHORT_DATES}.items()
        if "20240101" <= day <= "20241231"
    }
    assert inside, "the fixture has uploads in 2024"
    parent = await submit(
        http,
        key,
        offline_youtube.channel_url(),
        date_after="2024-01-01",
        date_before="20241231",
        **SMALL,
    )
    assert parent["kind"] == "channel"
    done = await wait_for(http, key, parent["job_id"], ended, within=120)
    assert done["status"] == "completed", [
        (e["metadata"], e["error"]) for e in await children(http, key, parent["job_id"])
    ]
    got = {e["metadata"]["video_id"] for e in await children(http, key, parent["job_id"])}
    assert got == inside
    assert done["metadata"]["channel_name"] or done["metadata"]["title"]
    # Every upload outside the dates is listed as skipped, under its own id and title:
    # those the listing dated and those only their own page dated (dropped by the child).
    outside = {**CHANNEL_VIDEO_DATES, **CHANNEL_SHORT_DATES}.keys() - inside
    skipped = done["details"]["skipped"]
    assert {entry["video_id"] for entry in skipped} == outside, skipped
    assert all(entry["title"] and entry["position"] for entry in skipped), skipped
    assert {entry["reason"] for entry in skipped} == {"outside_date_range"}

    # The whole channel: its videos, then its shorts.
    everything = await submit(http, key, offline_youtube.channel_url(), **SMALL)
    everything = await wait_for(http, key, everything["job_id"], ended, within=180)
    entries = await children(http, key, everything["job_id"])
    assert [e["metadata"]["video_id"] for e in entries] == [
        *CHANNEL_VIDEO_IDS,
        *CHANNEL_SHORT_IDS,
    ]
    shorts = await submit(http, key, offline_youtube.channel_url(tab="shorts"), **SMALL)
    shorts = await wait_for(http, key, shorts["job_id"], ended, within=60)
    assert shorts["children"]["completed"] == len(CHANNEL_SHORT_IDS)


async def test_a_date_window_reads_a_channel_only_down_to_its_first_older_upload(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    """A channel's tabs are newest first: below the first upload older than date_after
    nothing can be in the window, so the rest of the tab is never read (on YouTube, never
    fetched). With playlist_items, whose positions count every entry, the tab is read whole."""
    uploads = {f"longCh{n:05d}": f"{2022 + (n - 1) // 12}{(n - 1) % 12 + 1:02d}10" for n in
               range(1, 25)}  # fmt: skip
    offline_youtube.add_channel("@longchannel", "UClongChannelFixture00001", uploads)
    inside = {video_id for video_id, day in uploads.items() if day >= "20231001"}
    assert len(inside) == 3
    key = playlist_stack.key()
    url = offline_youtube.channel_url("@longchannel")

    async def run(**options: Any) -> tuple[dict[str, Any], set[str]]:
        parent = await submit(http, key, url, date_after="2023-10-01", **options, **SMALL)
        done = await wait_for(http, key, parent["job_id"], ended, within=120)
        got = {e["metadata"]["video_id"] for e in await children(http, key, parent["job_id"])}
        return done, got

    done, got = await run()
    assert done["status"] == "completed" and got == inside
    (older,) = done["details"]["skipped"]
    assert older["video_id"] == "longCh00021" and older["reason"] == "outside_date_range"

    done, got = await run(playlist_items="1-24")
    assert done["status"] == "completed" and got == inside
    assert len(done["details"]["skipped"]) == len(uploads) - len(inside)


async def test_a_playlist_that_does_not_exist_fails_with_its_code(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    key = playlist_stack.key()
    parent = await submit(http, key, offline_youtube.playlist_url(MISSING_PLAYLIST_ID), **SMALL)
    done = await wait_for(http, key, parent["job_id"], ended, within=60)
    assert done["status"] == "failed" and done["error"]["code"] == "playlist_not_found"
    assert done["children"]["total"] == 0


async def test_a_batch_accepts_the_valid_urls_and_names_what_is_wrong_with_the_others(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    key = playlist_stack.key()
    urls = [
        offline_youtube.video_url(PLAYLIST_VIDEO_IDS[0]),
        "https://vimeo.com/123456",
        "not a url",
        offline_youtube.playlist_url(),
        "https://www.youtube.com/feed/trending",
        "http://10.0.0.1/video.mp4",
        offline_youtube.video_url(PRIVATE_VIDEO_ID),
    ]
    response = await http.post(
        "/api/v1/batches",
        json={"urls": urls, "max_items": 2, **SMALL},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert [(a["index"], a["kind"]) for a in body["accepted"]] == [
        (0, "video"),
        (3, "playlist"),
        (6, "video"),
    ]
    assert {r["index"]: r["error"]["code"] for r in body["rejected"]} == {
        1: "unsupported_url",
        2: "invalid_url",
        4: "unsupported_url",
        5: "unsupported_url",
    }
    batch = await wait_for(http, key, body["batch_id"], ended, within=120)
    assert batch["kind"] == "batch" and batch["status"] == "completed"
    assert batch["children"] | {"skipped": 0} == {
        "total": 3, "queued": 0, "processing": 0, "completed": 2, "failed": 1,
        "canceled": 0, "paused": 0, "skipped": 0,
    }  # fmt: skip
    entries = {e["job_id"]: e for e in await children(http, key, body["batch_id"])}
    assert set(entries) == {a["job_id"] for a in body["accepted"]}
    playlist = entries[body["accepted"][1]["job_id"]]
    assert playlist["status"] == "completed" and playlist["children"]["completed"] == 2
    # The key's own list shows the batch, not its entries.
    listed = await http.get("/api/v1/downloads", headers={"X-API-Key": key})
    assert [j["job_id"] for j in listed.json()["items"]] == [body["batch_id"]]


# Python's parser reads www.youtube.com as the host, yt-dlp's reads 127.0.0.1.
AMBIGUOUS_URL = "https://127.0.0.1\\@www.youtube.com/watch?v=aqz-KE-bpKQ"


async def test_a_batch_with_no_valid_url_is_a_422_that_creates_nothing(
    playlist_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = playlist_stack.key()
    response = await http.post(
        "/api/v1/batches",
        json={"urls": ["https://example.com/a", "nope", AMBIGUOUS_URL]},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "no_valid_urls" and body["batch_id"] is None
    assert [r["error"]["code"] for r in body["rejected"]] == [
        "unsupported_url",
        "invalid_url",
        "unsupported_url",
    ]
    listed = await http.get("/api/v1/downloads", headers={"X-API-Key": key})
    assert listed.json()["total"] == 0

    too_many = await http.post(
        "/api/v1/batches",
        json={"urls": ["https://www.youtube.com/watch?v=aqz-KE-bpKQ"] * 101},
        headers={"X-API-Key": key},
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "too_many_urls"


async def test_a_playlist_sends_one_webhook_event_with_its_counts(
    playlist_stack: Stack, http: httpx.AsyncClient, offline_youtube: OfflineYouTube
) -> None:
    key = playlist_stack.key()
    with receiver() as hook:
        parent = await submit(
            http,
            key,
            offline_youtube.playlist_url(),
            playlist_items="3-5",
            webhook_url=hook.url(),
            **SMALL,
        )
        done = await wait_for(http, key, parent["job_id"], ended, within=120)
        (event,) = await hook.received_at_least(1)
        await asyncio.sleep(1)  # time for any stray event of an entry to arrive
        assert len(hook.received) == 1, "entries send no events of their own"
    body = event.json()
    assert body["event"] == "job.completed" and body["job"]["job_id"] == parent["job_id"]
    assert body["job"]["kind"] == "playlist"
    assert body["job"]["children"] == {"total": 3, "completed": 2, "failed": 1, "canceled": 0}
    assert done["children"]["failed"] == 1  # position 4 is the private video
    secret = (await http.get("/api/v1/webhooks", headers={"X-API-Key": key})).json()["secret"]
    assert verify_signature(secret, event.body, event.headers["x-yds-signature"])
