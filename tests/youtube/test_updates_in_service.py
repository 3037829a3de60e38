"""A worker started with YTDLP_UPDATE installs a newer yt-dlp, restarts itself once idle,
and from then on the version it runs shows wherever a user looks: /health/detailed,
/metrics, a job's details and `yds --version`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings, YtdlpUpdate
from app.youtube.updates import update_status
from tests.support.databases import DatabaseFactory
from tests.support.faults import stack_client, throttled_copy, wait_for
from tests.support.jobs import fetch_job, submit, watch
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube
from tests.support.stack import Stack, StartStack, running_stack, start_api, start_worker
from tests.support.ytdlp_wheels import build_ytdlp

pytestmark = pytest.mark.e2e

PINNED = metadata.version("yt-dlp")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def updating_stack(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    wheels = tmp_path_factory.mktemp("wheels")
    build_ytdlp(wheels, "2099.1.1")
    return start_stack(
        "updating",
        redis_db=4,
        YTDLP_UPDATE="stable",
        YTDLP_UPDATE_DIR=str(tmp_path_factory.mktemp("ytdlp")),
        YTDLP_UPDATE_FIND_LINKS=str(wheels),
    )


def detailed_once_updated(stack: Stack, within: float = 120) -> dict[str, Any]:
    """/health/detailed once every worker runs the update."""
    deadline = time.monotonic() + within
    while True:
        body: dict[str, Any] = httpx.get(f"{stack.base_url}/health/detailed", timeout=10).json()
        workers = body["yt_dlp"]["workers"]
        if workers and set(workers.values()) == {"2099.1.1"}:
            return body
        assert time.monotonic() < deadline, f"{body['yt_dlp']}\n{stack.logs()}"
        time.sleep(0.2)


def test_an_updated_worker_reports_its_new_yt_dlp(updating_stack: Stack) -> None:
    stack = updating_stack
    body = detailed_once_updated(stack)
    worker = f"{socket.gethostname()}:{stack.workers[0].pid}"  # restarted in place
    assert body["yt_dlp"]["workers"] == {worker: "2099.1.1"}
    # The API started before the update: it keeps the pinned one until its next start.
    assert body["yt_dlp"]["api"] == PINNED
    update = body["yt_dlp"]["update"]
    assert (update["mode"], update["pinned_version"], update["active_version"]) == (
        "stable", PINNED, "2099.1.1"
    )  # fmt: skip
    assert update["last_result"] == "updated"

    metrics = httpx.get(f"{stack.base_url}/metrics", timeout=10).text
    assert f'yds_ytdlp_info{{process="api",source="pinned",version="{PINNED}"}} 1.0' in metrics
    assert (
        f'yds_ytdlp_info{{process="{worker}",source="updated",version="2099.1.1"}} 1.0' in metrics
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith("YDS_")}
    env.update(YDS_API_URL=stack.base_url, YDS_API_KEY=stack.key(), COLUMNS="120")
    human = subprocess.run(
        [sys.executable, "-m", "app.cli", "--version"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines()[-2:] == [
        f"yt-dlp        {PINNED}  (on the server)",
        "yt-dlp        2099.1.1  (on 1 worker)",
    ]
    machine = subprocess.run(
        [sys.executable, "-m", "app.cli", "--json", "--version"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    shown = json.loads(machine.stdout)
    assert (shown["yt_dlp"], shown["yt_dlp_workers"]) == (PINNED, {worker: "2099.1.1"})


def test_an_api_started_after_the_update_runs_it(updating_stack: Stack) -> None:
    detailed_once_updated(updating_stack)
    api, base_url = start_api(updating_stack.env, updating_stack.log_dir, name="api-after")
    try:
        response = httpx.get(
            f"{base_url}/api/v1/version", headers={"X-API-Key": updating_stack.key()}, timeout=10
        )
        assert response.status_code == 200
        assert response.json()["yt_dlp"] == "2099.1.1"
        metrics = httpx.get(f"{base_url}/metrics", timeout=10).text
        assert 'yds_ytdlp_info{process="api",source="updated",version="2099.1.1"} 1.0' in metrics
    finally:
        api.stop()


async def test_a_job_records_the_yt_dlp_that_downloaded_it(updating_stack: Stack) -> None:
    stack = updating_stack
    detailed_once_updated(stack)
    key = stack.key()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        job = await submit(http, key, stack.youtube.video_url(STANDARD_VIDEO_ID))
        watched = await watch(stack.ws_url, job["job_id"], key=key)
        assert watched.final["status"] == "completed", watched.final
        details = (await fetch_job(http, key, job["job_id"]))["details"]
    assert details["ytdlp_version"] == "2099.1.1"


async def test_a_running_download_finishes_on_the_old_yt_dlp_before_the_worker_restarts(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    wheels, update_dir = tmp_path / "wheels", tmp_path / "ytdlp"
    build_ytdlp(wheels, "2099.1.1")
    (tmp_path / "stack").mkdir()
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path / "stack",
        redis_db=5,
        workers=0,
        YTDLP_UPDATE="stable",
        YTDLP_UPDATE_DIR=str(update_dir),
        YTDLP_UPDATE_FIND_LINKS=str(wheels),
        DOWNLOAD_CONNECTIONS="1",
    ) as stack:
        key = stack.key()
        # About 30 s at this rate: it outlasts the install and self-check by far.
        slow = throttled_copy(offline_youtube, "updBusy0001", 96 * 1024)
        settings = Settings(ytdlp_update=YtdlpUpdate.STABLE, ytdlp_update_dir=update_dir)
        async with stack_client(stack) as http:
            job_id = (await submit(http, key, slow, include_transcription=False))["job_id"]
            # Queued before the worker starts: it takes the job as soon as it is ready.
            stack.workers.append(start_worker(stack.env, stack.log_dir))
            worker = f"{socket.gethostname()}:{stack.workers[0].pid}"
            deadline = time.monotonic() + 60
            while update_status(settings).last_result != "updated":
                assert time.monotonic() < deadline, stack.logs()
                await asyncio.sleep(0.2)
            running = await fetch_job(http, key, job_id)
            assert running["status"] == "processing", "the download must outlast the update"
            assert await worker_versions(http) == {worker: PINNED}, "no restart while busy"

            done = await wait_for(http, key, job_id, lambda j: j["status"] != "processing")
            assert (done["status"], done["attempts"]) == ("completed", 1)
            assert done["details"]["ytdlp_version"] == PINNED
            deadline = time.monotonic() + 60
            while await worker_versions(http) != {worker: "2099.1.1"}:
                assert time.monotonic() < deadline, stack.logs()
                await asyncio.sleep(0.2)


async def worker_versions(http: httpx.AsyncClient) -> dict[str, str]:
    body = (await http.get("/health/detailed")).json()
    workers: dict[str, str] = body["yt_dlp"]["workers"]
    return workers


def test_an_api_on_another_host_shows_the_workers_last_attempt(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    """On ECS the API and the workers have directories of their own: the API learns the
    last attempt from Redis."""
    build_ytdlp(tmp_path / "wheels", "2099.1.1")
    (tmp_path / "stack").mkdir()
    with running_stack(
        database_url=db_factory.sqlite(),
        youtube=offline_youtube,
        base_dir=tmp_path / "stack",
        redis_db=6,
        workers=0,
        YTDLP_UPDATE="stable",
        YTDLP_UPDATE_DIR=str(tmp_path / "api-ytdlp"),
        YTDLP_UPDATE_FIND_LINKS=str(tmp_path / "wheels"),
    ) as stack:
        worker_env = {**stack.env, "YTDLP_UPDATE_DIR": str(tmp_path / "worker-ytdlp")}
        stack.workers.append(start_worker(worker_env, stack.log_dir))
        body = detailed_once_updated(stack)
        update = body["yt_dlp"]["update"]
        assert (update["last_result"], update["last_message"]) == (
            "updated", f"yt-dlp {PINNED} -> 2099.1.1"
        )  # fmt: skip
        # What the API itself would load at its next start: its own directory has none.
        assert update["active_version"] == PINNED
        assert not (tmp_path / "api-ytdlp").exists()
