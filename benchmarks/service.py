"""The whole service as `make run` starts it (`python -m app.launcher`: API, worker with
beat), on SQLite in a temporary data directory, fetching from the offline YouTube site of
the tests; and a bare yt-dlp on the same site, for the baselines.

The launcher gets a private Redis of the benchmark's own (REDIS_URL set: it starts none),
the worker its default concurrency unless a benchmark says otherwise, and quotas and rate
limits out of the way (a benchmark is one client sending many jobs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.processes import PROJECT_ROOT, api_env, create_key, free_port, start_redis, wait_up
from tests.support.offline_youtube import OfflineYouTube

UNLIMITED = "100000000"
TERMINAL = {"completed", "failed", "canceled", "expired"}


@dataclass
class Service:
    """A running service: its launcher process, where it answers, and a key for it."""

    launcher: subprocess.Popen[bytes]
    base_url: str
    key: str
    data_dir: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.base_url, headers={"X-API-Key": self.key}, timeout=60
        )

    def submit(self, url: str, **options: object) -> str:
        """POST a download; the job's id."""
        response = self.client.post("/api/v1/downloads", json={"url": url, **options})
        response.raise_for_status()
        return str(response.json()["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/downloads/{job_id}")
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        return job

    def status(self, job_id: str) -> str:
        return str(self.job(job_id)["status"])

    def wait_all(self, job_ids: list[str], timeout: float = 600) -> dict[str, str]:
        """Poll until every job ended; their statuses. Polling a page of jobs at a time
        keeps the API's share of the CPU small next to the work measured."""
        pending, ended = set(job_ids), {}
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(pending)} jobs did not end within {timeout:.0f} s")
            for job_id in list(pending):
                status = self.status(job_id)
                if status in TERMINAL:
                    ended[job_id] = status
                    pending.discard(job_id)
                else:
                    break  # the others are likely behind it in the queue
            if pending:
                time.sleep(0.05)
        return ended


def site_env(youtube: OfflineYouTube) -> dict[str, str]:
    """The environment a process needs to fetch from the offline site: the yt-dlp plugin
    and its catalog on the path, next to the project."""
    site = youtube.env()
    return {
        **os.environ,
        **site,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), site["PYTHONPATH"]]),
    }


@contextmanager
def running_service(youtube: OfflineYouTube, workdir: Path, **settings: str) -> Iterator[Service]:
    """Start the service (`python -m app.launcher` in `workdir`) and stop it after."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    redis, redis_url = start_redis()
    port = free_port()
    env = {
        **api_env(f"sqlite+aiosqlite:///{data_dir / 'app.db'}", redis_url, workdir, port),
        **site_env(youtube),
        "ALLOW_PRIVATE_NETWORKS": "true",
        "MAX_ACTIVE_JOBS_PER_KEY": UNLIMITED,
        "MAX_JOBS_PER_DAY_PER_KEY": UNLIMITED,
        "MIN_FREE_DISK_GB": "0",
        "LOG_LEVEL": "INFO",  # the worker's "ready." line
        **settings,
    }
    key = create_key(env)
    log = (workdir / "service.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "app.launcher"],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_up(f"http://127.0.0.1:{port}/health", launcher)
        wait_worker_ready(workdir / "service.log", launcher)
        service = Service(launcher, f"http://127.0.0.1:{port}", key, data_dir)
        with service.client:
            yield service
    finally:
        launcher.terminate()
        try:
            launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(launcher.pid, 9)
            launcher.wait()
        log.close()
        redis.terminate()
        redis.wait()
        shutil.rmtree(workdir / "work", ignore_errors=True)


def wait_worker_ready(log: Path, launcher: subprocess.Popen[bytes]) -> None:
    """The worker said it is ready (the launcher relays its output)."""
    deadline = time.monotonic() + 120
    while b" ready." not in log.read_bytes():
        if time.monotonic() > deadline or launcher.poll() is not None:
            raise SystemExit(f"the worker did not start; see {log}")
        time.sleep(0.1)


def bare_ytdlp(url: str, output: Path, *args: str) -> list[str]:
    """The command line of bare yt-dlp downloading `url` (the CLI, as a user runs it)."""
    return [
        sys.executable,
        "-m",
        "yt_dlp",
        "--no-progress",
        "--quiet",
        "--no-cache-dir",
        "-o",
        str(output),
        *args,
        url,
    ]
