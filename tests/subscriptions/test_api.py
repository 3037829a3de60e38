"""The subscriptions API in-process, on SQLite and PostgreSQL: what may be followed, the
filters' checks, per-key isolation, and check-now never running two checks at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.factories import KeyFactory

SUBSCRIPTIONS = "/api/v1/subscriptions"
CHANNEL = "https://www.youtube.com/@offlinechannel"
PLAYLIST = "https://www.youtube.com/playlist?list=PLofflineFixturePlaylist1234567890"


def headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def subscribe(
    client: httpx.AsyncClient, key: str, url: str = CHANNEL, **body: Any
) -> httpx.Response:
    return await client.post(SUBSCRIPTIONS, json={"url": url, **body}, headers=headers(key))


@pytest.mark.parametrize(
    ("url", "kind", "tab", "stored"),
    [
        (CHANNEL, "channel", None, CHANNEL),
        (f"{CHANNEL}/shorts/", "channel", "shorts", f"{CHANNEL}/shorts"),
        (f"{CHANNEL}/streams", "channel", "streams", f"{CHANNEL}/streams"),
        (
            "https://youtube.com/channel/UCofflineChannelFixture0/videos",
            "channel",
            "videos",
            "https://www.youtube.com/channel/UCofflineChannelFixture0/videos",
        ),
        (PLAYLIST, "playlist", None, PLAYLIST),
        (
            "https://www.youtube.com/watch?v=aqz-KE-bpKQ&list=PLofflineFixturePlaylist1234567890",
            "playlist",
            None,
            PLAYLIST,
        ),
    ],
)
async def test_a_channel_tab_or_playlist_can_be_followed(
    client: httpx.AsyncClient, make_key: KeyFactory, url: str, kind: str, tab: str | None,
    stored: str,
) -> None:  # fmt: skip
    response = await subscribe(client, make_key(), url, paused=True)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["tab"], body["url"]) == (kind, tab, stored)
    assert body["paused"] is True and body["checking"] is False
    assert body["counts"] == {"seen": 0, "downloaded": 0, "failed": 0, "pending": 0}
    assert body["feed"] == {"enabled": False, "media": "audio"}
    assert body["backfill"] == 0 and body["check_interval_minutes"] == 60


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=aqz-KE-bpKQ",
        "https://youtu.be/aqz-KE-bpKQ",
        "https://www.youtube.com/shorts/aqz-KE-bpKQ",
        "https://vimeo.com/12345",
        "https://www.youtube.com/results?search_query=x",
    ],
)
async def test_a_single_video_or_other_url_is_refused(
    client: httpx.AsyncClient, make_key: KeyFactory, url: str
) -> None:
    response = await subscribe(client, make_key(), url)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_subscription_url"


@pytest.mark.parametrize(
    "pattern", ["(a+)+$", "(a|aa)*b", "(x*)*y", r"(\w+\s?)+$", "(", "a" * 201, r"(a)\1"]
)
async def test_a_hostile_or_invalid_title_pattern_is_refused(
    client: httpx.AsyncClient, make_key: KeyFactory, pattern: str
) -> None:
    key = make_key()
    for field in ("title_include", "title_exclude"):
        response = await subscribe(client, key, filters={field: pattern}, paused=True)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_pattern"
    listed = await client.get(SUBSCRIPTIONS, headers=headers(key))
    assert listed.json()["total"] == 0


async def test_a_hostile_pattern_is_refused_on_update_too(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    created = (await subscribe(client, key, paused=True)).json()
    response = await client.patch(
        f"{SUBSCRIPTIONS}/{created['id']}",
        json={"filters": {"title_exclude": "(.*a){20}"}},
        headers=headers(key),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_pattern"


async def test_reasonable_filters_are_kept_as_given(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    filters = {
        "uploaded_after": "30 days",
        "include_shorts": True,
        "include_live": False,
        "title_include": r"\bepisode \d+",
        "title_exclude": "trailer|teaser",
        "min_duration": 60,
        "max_duration": 3600,
        "max_per_check": 5,
    }
    response = await subscribe(
        client, make_key(), filters=filters, paused=True, backfill=3, keep_last=10, name="Mine"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filters"] == filters
    assert (body["name"], body["backfill"], body["keep_last"]) == ("Mine", 3, 10)


@pytest.mark.parametrize(
    "body",
    [
        {"check_interval_minutes": 5},
        {"filters": {"uploaded_after": "soon"}},
        {"filters": {"uploaded_after": "2025-13-01"}},
        {"filters": {"uploaded_after": "10000 years"}},
        {"backfill": -1},
        {"options": {"quality": "8k"}},
    ],
)
async def test_out_of_bounds_values_are_validation_errors(
    client: httpx.AsyncClient, make_key: KeyFactory, body: dict[str, Any]
) -> None:
    response = await subscribe(client, make_key(), **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_another_key_can_neither_see_nor_change_a_subscription(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    owner, other = make_key("owner"), make_key("other")
    created = (await subscribe(client, owner, paused=True)).json()
    one = f"{SUBSCRIPTIONS}/{created['id']}"
    attempts = [
        client.get(one, headers=headers(other)),
        client.patch(one, json={"paused": False}, headers=headers(other)),
        client.post(f"{one}/check", headers=headers(other)),
        client.delete(one, headers=headers(other)),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "subscription_not_found"
    assert (await client.get(SUBSCRIPTIONS, headers=headers(other))).json()["total"] == 0
    mine = await client.get(one, headers=headers(owner))
    assert mine.status_code == 200 and mine.json()["paused"] is True


async def test_a_read_only_key_cannot_subscribe(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    reader = make_key("reader", scopes=["downloads:read"])
    response = await subscribe(client, reader)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert (await client.get(SUBSCRIPTIONS, headers=headers(reader))).status_code == 200


async def test_update_list_and_delete(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    key = make_key()
    first = (await subscribe(client, key, paused=True, name="one")).json()
    await subscribe(client, key, PLAYLIST, paused=True, name="two")
    page = (await client.get(f"{SUBSCRIPTIONS}?limit=1", headers=headers(key))).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (2, 1, 0, 1)
    one = f"{SUBSCRIPTIONS}/{first['id']}"
    changed = await client.patch(
        one,
        json={"name": "renamed", "check_interval_minutes": 120, "keep_last": 3},
        headers=headers(key),
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["check_interval_minutes"]) == ("renamed", 120)
    assert changed.json()["keep_last"] == 3
    too_short = await client.patch(one, json={"check_interval_minutes": 1}, headers=headers(key))
    assert too_short.status_code == 422
    assert too_short.json()["error"]["code"] == "validation_error"
    assert (await client.delete(one, headers=headers(key))).status_code == 204
    gone = await client.get(one, headers=headers(key))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "subscription_not_found"
    assert (await client.get(SUBSCRIPTIONS, headers=headers(key))).json()["total"] == 1


async def test_check_now_never_starts_two_checks(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    created = (await subscribe(client, key, paused=True)).json()
    check = f"{SUBSCRIPTIONS}/{created['id']}/check"
    first = await client.post(check, headers=headers(key))
    assert first.status_code == 202, first.text
    assert first.json()["started"] is True
    second = await client.post(check, headers=headers(key))
    assert second.json() == {"job_id": first.json()["job_id"], "started": False}
    job = await client.get(f"/api/v1/downloads/{first.json()['job_id']}", headers=headers(key))
    assert job.status_code == 200
    assert (job.json()["kind"], job.json()["url"]) == ("subscription_check", CHANNEL)
    state = (await client.get(f"{SUBSCRIPTIONS}/{created['id']}", headers=headers(key))).json()
    assert state["checking"] is True and state["last_check_job_id"] == first.json()["job_id"]
    assert state["last_check_at"] is not None


async def test_an_unpaused_subscription_checks_at_once(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    body = (await subscribe(client, key)).json()
    assert body["checking"] is True and body["last_check_job_id"] is not None


async def test_a_subscriptions_priority_is_kept_changed_and_given_to_its_checks(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    created = await subscribe(client, key, paused=True, priority="low")
    assert created.status_code == 201, created.text
    assert created.json()["priority"] == "low"
    one = f"{SUBSCRIPTIONS}/{created.json()['id']}"
    default = (await subscribe(client, key, PLAYLIST, paused=True)).json()
    assert default["priority"] == "normal"

    renamed = await client.patch(one, json={"name": "kept"}, headers=headers(key))
    assert renamed.json()["priority"] == "low", "a PATCH without it leaves it"
    changed = await client.patch(one, json={"priority": "high"}, headers=headers(key))
    assert changed.status_code == 200, changed.text
    assert changed.json()["priority"] == "high"
    bad = await client.patch(one, json={"priority": "urgent"}, headers=headers(key))
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "validation_error"

    check = (await client.post(f"{one}/check", headers=headers(key))).json()
    job = await client.get(f"/api/v1/downloads/{check['job_id']}", headers=headers(key))
    assert job.json()["priority"] == "high", "the check's entries inherit it from the check"
