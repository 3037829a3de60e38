"""`yds recovery` as a user runs it: a separate process against a running service (real API
and worker, yt-dlp and the offline YouTube site). Downloads really fail (a private and a
removed video); once the private one plays again, a retry by its code brings it back."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.offline_youtube import REMOVED_VIDEO_ID, STANDARD_VIDEO_ID
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FIXED_LATER_ID = "cliRecover1"  # private at first, playable once the test says so
JOB_TIMEOUT = 120


def yds(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.cli recovery ARGS` with the connection in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YDS_")}
    env.update(YDS_API_URL=stack.base_url, YDS_API_KEY=key, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "recovery", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT,
    )  # fmt: skip


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


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


def ended(stack: Stack, key: str, job_id: str, *, after: str | None = None) -> dict[str, Any]:
    """The job once it has ended (after `after`, its previous end, when given)."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        job: dict[str, Any] = httpx.get(
            f"{stack.base_url}/api/v1/downloads/{job_id}", headers={"X-API-Key": key}, timeout=30
        ).json()
        if job["status"] in ("completed", "failed", "canceled") and job["completed_at"] != after:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_failures_are_listed_and_retried_by_code(stack: Stack) -> None:
    key = stack.key("cli-recovery")
    stack.youtube.set_entry(FIXED_LATER_ID, {"error": "private"})
    private = submit(stack, key, FIXED_LATER_ID)
    removed = submit(stack, key, REMOVED_VIDEO_ID)
    first = ended(stack, key, private)
    assert first["error"]["code"] == "video_private"
    assert ended(stack, key, removed)["error"]["code"] == "video_unavailable"

    listed = ok_json(yds(stack, key, "list", "--json"))
    assert listed["total"] == 2
    assert {g["code"]: g["sample"]["job_id"] for g in listed["groups"]} == {
        "video_private": private,
        "video_unavailable": removed,
    }
    human = yds(stack, key, "list")
    assert human.returncode == 0, human.stderr
    assert "video_private" in human.stdout and "video_unavailable" in human.stdout
    assert "The video is gone from YouTube" in human.stdout  # its hint
    assert "2 in all" in human.stdout

    # Nobody retries everything by accident.
    refused = yds(stack, key, "retry")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--code CODE" in refused.stderr and "--all" in refused.stderr
    both = yds(stack, key, "retry", "--all", "--code", "video_private", "--json")
    assert both.returncode == 2 and json.loads(both.stdout)["error"]["code"] == "usage_error"
    bad = yds(stack, key, "retry", "--code", "Not a code", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["error"]["code"] == "validation_error"

    entry = copy.deepcopy(stack.youtube.catalog["videos"][STANDARD_VIDEO_ID])
    stack.youtube.set_entry(FIXED_LATER_ID, {**entry, "id": FIXED_LATER_ID})
    outcome = ok_json(yds(stack, key, "retry", "--code", "video_private", "--json"))
    assert (outcome["retried"], outcome["retried_ids"], outcome["more"]) == (1, [private], False)
    assert ended(stack, key, private, after=first["completed_at"])["status"] == "completed"

    left = ok_json(yds(stack, key, "list", "--json"))
    assert [(g["code"], g["count"]) for g in left["groups"]] == [("video_unavailable", 1)]
    again = yds(stack, key, "retry", "--all")
    assert again.returncode == 0, again.stderr
    assert "Retried 1 of 1 matching jobs." in again.stdout


def test_nothing_to_recover_says_so(stack: Stack) -> None:
    key = stack.key("cli-nothing")
    human = yds(stack, key, "list")
    assert human.returncode == 0 and "nothing to recover" in human.stdout
    none = ok_json(yds(stack, key, "retry", "--all", "--json"))
    assert (none["matched"], none["retried"]) == (0, 0)
