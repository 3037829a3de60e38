"""`yds subscriptions` as a user runs it: a separate process against a running service (real
API and worker, the offline YouTube site), following a channel that gains an upload between
two checks, with its podcast feed and the errors a user meets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
HANDLE = "@cliSubsChannel"
CHANNEL_ID = "UCcliSubsChannelFixture0"
FIRST_UPLOADS = {"cliSubVid02": "20250302", "cliSubVid01": "20250301"}
NEW_UPLOAD = "cliSubVid03"
CHECK_TIMEOUT = 180


def yds(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.cli ARGS` with the connection in the environment, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YDS_")}
    env.update(YDS_API_URL=stack.base_url, YDS_API_KEY=key, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "subscriptions", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=CHECK_TIMEOUT,
    )  # fmt: skip


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def channel_url(stack: Stack) -> str:
    """A channel of the test's own, with two uploads before anyone subscribes."""
    stack.youtube.add_channel(HANDLE, CHANNEL_ID, FIRST_UPLOADS, title="CLI Subs Channel")
    return stack.youtube.channel_url(HANDLE)


def test_a_channel_is_followed_from_add_to_remove(stack: Stack, channel_url: str) -> None:
    key = stack.key("cli-subs")
    added = ok_json(yds(stack, key, "add", channel_url, "--name", "Talks [live]", "--backfill",
                        "1", "--audio-only", "--interval", "120", "--json"))  # fmt: skip
    sub_id = added["id"]
    assert (added["kind"], added["name"], added["backfill"]) == ("channel", "Talks [live]", 1)
    assert added["options"]["audio_only"] is True and added["check_interval_minutes"] == 120
    assert [item["id"] for item in ok_json(yds(stack, key, "list", "--json"))] == [sub_id]

    # Adding it started the first check: `check` starts another only once that one ended.
    first = ok_json(yds(stack, key, "check", sub_id, "--wait", "--json"))
    assert first["job"]["status"] == "completed"
    assert first["started"] == (first["job_id"] != added["last_check_job_id"])
    assert ok_json(yds(stack, key, "show", sub_id, "--json"))["counts"]["downloaded"] == 1

    stack.youtube.add_channel_video(HANDLE, NEW_UPLOAD, "20250310")
    second = ok_json(yds(stack, key, "check", sub_id, "--wait", "--json"))
    assert second["job"]["job_id"] != first["job"]["job_id"]
    shown = ok_json(yds(stack, key, "show", sub_id, "--json"))
    assert shown["counts"]["downloaded"] == 2 and shown["last_check_job_id"] == second["job_id"]

    human = yds(stack, key, "show", sub_id)
    assert human.returncode == 0, human.stderr
    assert "Talks [live]" in human.stdout and "2 downloaded" in human.stdout
    assert "every       120 min" in human.stdout and "audio only (m4a)" in human.stdout

    assert ok_json(yds(stack, key, "pause", sub_id[:8], "--json"))["paused"] is True  # a start
    listed = yds(stack, key, "list")
    assert listed.returncode == 0 and "paused" in listed.stdout, listed.stdout
    assert ok_json(yds(stack, key, "resume", sub_id, "--json"))["paused"] is False

    removed = yds(stack, key, "remove", sub_id[:8])
    assert removed.returncode == 0 and f"removed  {sub_id}" in removed.stdout
    gone = yds(stack, key, "show", sub_id, "--json")
    assert gone.returncode == 2
    assert json.loads(gone.stdout)["error"]["code"] == "subscription_not_found"


def test_the_feed_url_is_printed_once_and_revoking_it_turns_it_off(
    stack: Stack, channel_url: str
) -> None:
    key = stack.key("cli-feed")
    sub_id = ok_json(yds(stack, key, "add", channel_url, "--json"))["id"]
    enabled = yds(stack, key, "feed", "enable", sub_id, "--media", "audio")
    assert enabled.returncode == 0, enabled.stderr
    url = enabled.stdout.strip()
    assert url.startswith(f"{stack.base_url}/feeds/") and url.endswith(".xml")
    assert "shown only once" in enabled.stderr
    assert ok_json(yds(stack, key, "show", sub_id, "--json"))["feed"] == {
        "enabled": True, "media": "audio"
    }  # fmt: skip
    assert "<rss" in httpx.get(url).text  # no key: a podcast app fetches it as is

    revoked = yds(stack, key, "feed", "revoke", sub_id)
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(url).status_code == 404


def test_refusals_exit_2_with_the_apis_words(stack: Stack, channel_url: str) -> None:
    key = stack.key("cli-subs-errors")
    video = yds(stack, key, "add", stack.youtube.video_url(STANDARD_VIDEO_ID))
    assert video.returncode == 2 and "(invalid_subscription_url)" in video.stderr, video.stderr
    assert "Traceback" not in video.stderr

    hostile = yds(stack, key, "add", channel_url, "--title-include", "(a+)+$", "--json")
    assert hostile.returncode == 2
    assert json.loads(hostile.stdout)["error"]["code"] == "invalid_pattern"

    mine = ok_json(yds(stack, key, "add", channel_url, "--json"))["id"]
    other = stack.key("cli-subs-other")
    for args in (("show", mine), ("pause", mine), ("check", mine), ("remove", mine)):
        refused = yds(stack, other, *args, "--json")
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert json.loads(refused.stdout)["error"]["code"] == "subscription_not_found"
    assert ok_json(yds(stack, other, "list", "--json")) == []
    assert ok_json(yds(stack, key, "show", mine, "--json"))["paused"] is False

    empty = yds(stack, other, "list")
    assert empty.returncode == 0 and "No subscriptions yet" in empty.stdout


def test_a_subscription_takes_a_priority(stack: Stack, channel_url: str) -> None:
    key = stack.key("cli-subs-priority")
    added = ok_json(yds(stack, key, "add", channel_url, "--paused", "--priority", "low", "--json"))
    assert added["priority"] == "low"
    human = yds(stack, key, "show", added["id"])
    assert human.returncode == 0 and "priority    low" in human.stdout, human.stdout
    refused = yds(stack, key, "add", channel_url, "--priority", "urgent", "--json")
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["error"]["code"] == "validation_error"
