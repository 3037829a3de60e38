"""Cookies as an admin uses them: `yds cookies` against running API and worker processes
(logging at DEBUG), and a download that sends the uploaded cookie to the media site."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import submit, watch
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.stack import Stack, StartStack
from tests.youtube.cookie_files import SECRET, cookie, netscape, signed_in

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cookie_stack(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    secrets = tmp_path_factory.mktemp("cookie-secrets") / "secrets"
    return start_stack("cookies", redis_db=5, LOG_LEVEL="DEBUG", YTDLP_COOKIES_DIR=str(secrets))


@pytest.fixture
async def http(cookie_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cookie_stack.base_url, timeout=30) as client:
        yield client


def yds(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("YDS_")}
    env.update(YDS_API_URL=stack.base_url, YDS_API_KEY=key, COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "cookies", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_an_uploaded_cookie_reaches_the_media_site_and_no_log(
    cookie_stack: Stack, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    admin = _admin_key(cookie_stack)
    # The offline site is on 127.0.0.1, so the file carries a cookie for it as well.
    jar = tmp_path / "cookies.txt"
    jar.write_bytes(netscape(cookie(), cookie(domain="127.0.0.1", name="SID", secure=False)))
    uploaded = yds(cookie_stack, admin, "upload", str(jar))
    assert uploaded.returncode == 0, uploaded.stderr
    assert "Cookies uploaded." in uploaded.stdout and "2 (1 sign-in)" in uploaded.stdout

    cookie_stack.youtube.server.reset_hits()
    key = cookie_stack.key()
    url = cookie_stack.youtube.video_url(STANDARD_VIDEO_ID)
    job = await submit(http, key, url, include_transcription=False, include_thumbnail=False)
    watched = await watch(cookie_stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "completed", watched.final
    media = cookie_stack.youtube.server.hits_for(f"media/{STANDARD_VIDEO_ID}")
    assert media and all(hit.cookie == f"SID={SECRET}" for hit in media)

    shown = yds(cookie_stack, admin, "show")
    assert shown.returncode == 0 and "uploaded" in shown.stdout
    assert SECRET not in shown.stdout + uploaded.stdout
    assert (
        "DEBUG" in cookie_stack.api.log() and "GET /api/v1/admin/cookies" in cookie_stack.api.log()
    )
    assert SECRET not in cookie_stack.logs()
    for worker in cookie_stack.workers:
        assert SECRET not in worker.log()


def test_the_cli_shows_the_apis_message_for_a_malformed_file_and_removes(
    cookie_stack: Stack, tmp_path: Path
) -> None:
    admin = _admin_key(cookie_stack)
    jar = tmp_path / "cookies.txt"
    jar.write_bytes(netscape(cookie(), f".youtube.com\tTRUE\t/\tTRUE\tsoon\tSID\t{SECRET}"))
    refused = yds(cookie_stack, admin, "upload", str(jar))
    assert refused.returncode != 0
    assert "Line 4 of the cookie file is not a Netscape cookie" in refused.stderr
    assert "invalid_cookie_file" in refused.stderr and SECRET not in refused.stderr

    jar.write_bytes(signed_in())
    assert yds(cookie_stack, admin, "upload", str(jar)).returncode == 0
    removed = yds(cookie_stack, admin, "remove")
    assert removed.returncode == 0, removed.stderr
    assert "Uploaded cookies removed." in removed.stdout and "none" in removed.stdout

    user = cookie_stack.key("not-admin")
    forbidden = yds(cookie_stack, user, "show")
    assert forbidden.returncode != 0 and "insufficient_scope" in forbidden.stderr


def _admin_key(stack: Stack) -> str:
    from tests.support.factories import issue_key

    return issue_key(stack.database_url, "cookie-admin", ["admin"])
