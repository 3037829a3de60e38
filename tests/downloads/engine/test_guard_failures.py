"""What a user reads when a download cannot reach its media, through the real API and
worker: the egress guard's reason in plain words and a code of its own, never yt-dlp's
"Tunnel connection failed: 502 Bad Gateway"; an address the guard refuses is always
`forbidden_address`; a bot check names this service's settings."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.services import free_port
from tests.support.stack import Stack, StartStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def guarded(start_stack: StartStack) -> Stack:
    """Only the offline site's address (127.0.0.1) is allowed; failures are not retried."""
    return start_stack(
        "guarded",
        redis_db=2,
        ALLOW_PRIVATE_NETWORKS="false",
        ALLOWED_PRIVATE_CIDRS="127.0.0.1/32",
        MAX_RETRIES="0",
    )


@pytest.fixture
async def http(guarded: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=guarded.base_url, timeout=30) as client:
        yield client


def video_with_media_at(stack: Stack, video_id: str, media_url: str) -> str:
    """A catalog video whose only format lives at `media_url`; its watch URL."""
    entry: dict[str, Any] = copy.deepcopy(stack.youtube.catalog["videos"][STANDARD_VIDEO_ID])
    progressive = next(f for f in entry["formats"] if f["format_id"] == "18")
    entry.update(id=video_id, formats=[{**progressive, "url": media_url}])
    stack.youtube.set_entry(video_id, entry)
    return stack.youtube.video_url(video_id)


async def failed_job(stack: Stack, http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """Submit `url`, wait for the job's end and return its JSON, which must say failed."""
    key = stack.key()
    job = await submit(http, key, url, include_transcription=False)
    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "failed", watched.final
    body = await fetch_job(http, key, job["job_id"])
    assert body["status"] == "failed" and body["files"] == []
    return body


@pytest.mark.parametrize(
    ("video_id", "media_url", "code", "words"),
    [
        (
            "noDnsName01",
            "http://media.no-such-host.invalid/18.mp4",
            "dns_failed",
            "The host name media.no-such-host.invalid did not resolve",
        ),
        (
            "noDnsTls001",
            "https://media.no-such-host.invalid/18.mp4",
            "dns_failed",
            "The host name media.no-such-host.invalid did not resolve",
        ),
        (
            "closedPort1",
            "http://127.0.0.1:{closed}/18.mp4",
            "connection_refused",
            "127.0.0.1 refused the connection on port {closed}",
        ),
        (
            "closedPortS",
            "https://127.0.0.1:{closed}/18.mp4",
            "connection_refused",
            "127.0.0.1 refused the connection on port {closed}",
        ),
    ],
)
async def test_an_unreachable_media_host_fails_with_the_guards_reason(
    guarded: Stack, http: httpx.AsyncClient, video_id: str, media_url: str, code: str, words: str
) -> None:
    closed = free_port()
    url = video_with_media_at(guarded, video_id, media_url.format(closed=closed))
    error = (await failed_job(guarded, http, url))["error"]
    assert error["code"] == code, error
    assert words.format(closed=closed) in error["message"], error
    assert "Tunnel connection" not in error["message"] and "Bad Gateway" not in error["message"]


@pytest.mark.parametrize(
    ("video_id", "media_url"),
    [
        ("mappedLoop1", "http://[::ffff:127.0.0.2]:{port}/media/18.mp4"),
        ("mappedLoopS", "https://[::ffff:127.0.0.2]:{port}/media/18.mp4"),
        ("mappedMeta1", "http://[::ffff:169.254.169.254]/latest/meta-data/"),
        ("privateNet1", "http://10.0.0.1/18.mp4"),
        ("fileScheme1", "file:///etc/passwd"),
    ],
)
async def test_a_media_url_at_a_refused_address_is_forbidden_address(
    guarded: Stack, http: httpx.AsyncClient, video_id: str, media_url: str
) -> None:
    port = guarded.youtube.server.port
    url = video_with_media_at(guarded, video_id, media_url.format(port=port))
    error = (await failed_job(guarded, http, url))["error"]
    assert error["code"] == "forbidden_address", error
    assert error["message"].startswith("Refused to fetch"), error


async def test_a_bot_check_names_this_services_settings(
    guarded: Stack, http: httpx.AsyncClient
) -> None:
    guarded.youtube.set_entry("botChecked1", {"error": "bot_check"})
    error = (await failed_job(guarded, http, guarded.youtube.video_url("botChecked1")))["error"]
    assert error["code"] == "throttled"
    for named in ("yds cookies upload", "YTDLP_PROXIES", "YTDLP_IMPERSONATE", "yds doctor"):
        assert named in error["message"]
    assert "--cookies" not in error["message"] and "yt-dlp" not in error["message"]
