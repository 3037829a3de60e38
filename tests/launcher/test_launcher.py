"""`make run` as a user runs it: `python -m app.launcher` in its own directory, with its
private Redis, SQLite, the API and a worker with beat; stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.support.factories import issue_key
from tests.support.faults import throttled_copy
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube
from tests.support.services import free_port
from tests.support.speech import spoken_clip, tiny_model
from tests.support.stack import stack_env
from tests.support.ytdlp_wheels import build_ytdlp

pytestmark = pytest.mark.e2e
BANNER = "YouTube download service is running at"
WORKER_READY = " ready."


class Output:
    """The launcher's terminal: stdout and stderr in one stream, as lines in order."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 180) -> int:
        """The index of the `count`-th line containing `text`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [n for n, line in enumerate(self.lines) if text in line]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                assert left > 0, f"no {text!r} in:\n" + "\n".join(self.lines[-60:])
                self._changed.wait(left)

    def index(self, text: str) -> int:
        with self._changed:
            return next(n for n, line in enumerate(self.lines) if text in line)


class Launcher:
    def __init__(
        self, proc: subprocess.Popen[str], base_url: str, database_url: str, video_url: str
    ) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.video_url = video_url
        self.base_url = base_url
        self.database_url = database_url
        self.output = Output(proc.stdout)


@pytest.fixture
def launcher(
    offline_youtube: OfflineYouTube, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Launcher]:
    """The launcher at LOG_LEVEL INFO, or at the level a test is parametrized with."""
    log_level: str = getattr(request, "param", "INFO")
    with running_launcher(offline_youtube, tmp_path, LOG_LEVEL=log_level) as running:
        yield running


@contextlib.contextmanager
def running_launcher(
    offline_youtube: OfflineYouTube, tmp_path: Path, **settings: str
) -> Iterator[Launcher]:
    """`python -m app.launcher` in `tmp_path` with these settings; stopped, and every
    process it started gone, afterwards."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    port = free_port()
    env = stack_env(
        database_url=database_url,
        base_dir=tmp_path,
        youtube=offline_youtube,
        HOST="127.0.0.1",
        PORT=str(port),
        MAX_CONCURRENT_DOWNLOADS="1",
        **settings,
    )
    env.pop("REDIS_URL", None)  # unset, as on a fresh checkout: a private Redis is started
    env.pop("BROKER_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.launcher"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    video_url = offline_youtube.video_url(STANDARD_VIDEO_ID)
    running = Launcher(proc, f"http://127.0.0.1:{port}", database_url, video_url)
    try:
        yield running
    finally:
        leftovers = descendants(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
        for pid in [proc.pid, *leftovers]:  # never leave a test's processes running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        print("\n".join(running.output.lines))  # shown when the test failed


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc: children, grandchildren and so on."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {each for each in found if alive(each)}


def alive(pid: int) -> bool:
    """Running: a zombie (ended, not yet reaped) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def celery_children(pid: int) -> list[int]:
    return [
        each for each in descendants(pid) if _parent(each) == pid and b"celery" in _cmdline(each)
    ]


def _parent(pid: int) -> int:
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return 0


def _cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


def _processes_of(database_url: str) -> set[int]:
    """Live processes started with this DATABASE_URL: the launcher's, and whatever they
    started, parent or not."""
    needle = f"DATABASE_URL={database_url}\0".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and needle in (entry / "environ").read_bytes():
                found.add(int(entry.name))
    return {pid for pid in found if alive(pid)}


def stop_and_assert_nothing_is_left(launcher: Launcher) -> None:
    processes = descendants(launcher.proc.pid)
    assert len(processes) >= 4, "Redis, the API, the worker, its pool and beat are running"
    launcher.proc.send_signal(signal.SIGINT)
    assert launcher.proc.wait(timeout=120) == 0
    left = {pid: _cmdline(pid) for pid in processes if alive(pid)}
    assert not left, f"still running after Ctrl-C: {left}"


def test_ctrl_c_during_a_download_leaves_no_process_behind(
    launcher: Launcher, offline_youtube: OfflineYouTube
) -> None:
    """The worker hands the running job back within its shutdown grace, and everything
    of its process group (pool, embedded beat) ends with it."""
    launcher.output.wait_for(WORKER_READY)
    deadline = time.monotonic() + 60
    while not answers(f"{launcher.base_url}/health"):
        assert time.monotonic() < deadline, "the API did not answer"
        time.sleep(0.1)
    slow = throttled_copy(offline_youtube, "launchCtrlC", 12_500)  # a connection; four at once
    key = issue_key(launcher.database_url, "launcher")
    with httpx.Client(base_url=launcher.base_url, headers={"X-API-Key": key}) as http:
        body = {"url": slow, "quality": "360p"}
        response = http.post("/api/v1/downloads", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 60
        while http.get(f"/api/v1/downloads/{job_id}").json()["progress"] <= 1:
            assert time.monotonic() < deadline, "the download did not start"
            time.sleep(0.2)
    stop_and_assert_nothing_is_left(launcher)


def answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=1).status_code == 200
    return False


def test_the_banner_comes_once_the_api_answers_and_after_the_worker_start_up(
    launcher: Launcher,
) -> None:
    banner = launcher.output.wait_for(BANNER)
    assert httpx.get(f"{launcher.base_url}/health", timeout=5).status_code == 200
    assert launcher.output.index(WORKER_READY) < banner, "the worker's start-up output first"
    assert launcher.output.index("Application startup complete") < banner


@pytest.mark.parametrize("launcher", ["WARNING"], indirect=True)
def test_the_banner_comes_when_the_worker_start_up_is_not_logged(launcher: Launcher) -> None:
    """At WARNING the worker does not say it is ready; its presence in Redis does."""
    launcher.output.wait_for(BANNER)
    assert httpx.get(f"{launcher.base_url}/health", timeout=5).status_code == 200
    assert not any(WORKER_READY in line for line in launcher.output.lines)


def test_a_killed_worker_is_restarted_and_jobs_still_complete(launcher: Launcher) -> None:
    launcher.output.wait_for(BANNER)
    (worker,) = celery_children(launcher.proc.pid)
    its_processes = descendants(worker)  # the pool and the embedded beat
    assert its_processes
    os.kill(worker, signal.SIGKILL)
    launcher.output.wait_for("restarting it in")
    deadline = time.monotonic() + 10  # SIGKILL is sent; the kernel ends them shortly
    while left := {pid: _cmdline(pid) for pid in its_processes if alive(pid)}:
        assert time.monotonic() < deadline, f"the killed worker's processes run on: {left}"
        time.sleep(0.1)
    launcher.output.wait_for(WORKER_READY, count=2)
    (restarted,) = celery_children(launcher.proc.pid)
    assert restarted != worker

    key = issue_key(launcher.database_url, "launcher")
    with httpx.Client(base_url=launcher.base_url, headers={"X-API-Key": key}) as http:
        body = {"url": launcher.video_url, "transcript_only": True}
        response = http.post("/api/v1/downloads", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 120
        while (job := http.get(f"/api/v1/downloads/{job_id}").json())["status"] != "completed":
            assert job["status"] not in ("failed", "canceled"), job
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
    assert launcher.proc.poll() is None, "the launcher kept running"
    stop_and_assert_nothing_is_left(launcher)


def test_with_asr_enabled_a_transcription_worker_runs_beside_the_worker(
    offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    clip = spoken_clip(tmp_path / "clip")
    offline_youtube.add_video_from_files("launcherSp1", progressive=clip.video, audio=clip.audio)
    settings = {"ASR_ENABLED": "true", "ASR_MODEL": str(tiny_model()), "ASR_CPU_THREADS": "1"}
    (tmp_path / "run").mkdir()
    with running_launcher(offline_youtube, tmp_path / "run", **settings) as launcher:
        launcher.output.wait_for(BANNER)
        launcher.output.wait_for(f"transcription@{socket.gethostname()} ready.")
        workers = {pid: _cmdline(pid).split(b"\0") for pid in celery_children(launcher.proc.pid)}
        queues = sorted(args[args.index(b"-Q") + 1] for args in workers.values())
        assert queues == [
            b"maintenance,downloads.high,downloads,downloads.low",
            b"transcription",
        ], workers

        key = issue_key(launcher.database_url, "launcher")
        with httpx.Client(base_url=launcher.base_url, headers={"X-API-Key": key}) as http:
            body = {"url": offline_youtube.video_url("launcherSp1"), "transcript_only": True}
            response = http.post("/api/v1/downloads", json=body)
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            deadline = time.monotonic() + 180
            while (job := http.get(f"/api/v1/downloads/{job_id}").json())["status"] != "completed":
                assert job["status"] not in ("failed", "canceled"), job
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
        assert [t["source"] for t in job["transcripts"]["languages"]] == ["asr"]
        stop_and_assert_nothing_is_left(launcher)


def test_with_ytdlp_update_the_worker_switches_to_the_new_yt_dlp(
    offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    """YTDLP_UPDATE under `make run`: the update goes to ./data/ytdlp, the worker restarts
    in place (the launcher does not take it for a crash) and Ctrl-C still stops it all."""
    build_ytdlp(tmp_path / "wheels", "2099.1.1")
    settings = {"YTDLP_UPDATE": "stable", "YTDLP_UPDATE_FIND_LINKS": str(tmp_path / "wheels")}
    with running_launcher(offline_youtube, tmp_path, **settings) as launcher:
        launcher.output.wait_for(BANNER)
        (worker,) = celery_children(launcher.proc.pid)
        launcher.output.wait_for("yt-dlp update (stable): yt-dlp")
        launcher.output.wait_for(WORKER_READY, count=2)
        assert celery_children(launcher.proc.pid) == [worker], "restarted in place"
        assert not any("restarting it in" in line for line in launcher.output.lines)
        # The pool and the embedded beat of before the restart ended with it.
        ours = descendants(launcher.proc.pid) | {launcher.proc.pid}
        assert {launcher.proc.pid, worker} <= _processes_of(launcher.database_url)
        deadline = time.monotonic() + 10
        while orphans := {
            pid: _cmdline(pid) for pid in _processes_of(launcher.database_url) if pid not in ours
        }:
            assert time.monotonic() < deadline, f"left behind by the restart: {orphans}"
            time.sleep(0.1)
        assert (tmp_path / "data" / "ytdlp" / "current").read_text().strip() == "2099.1.1"
        key = issue_key(launcher.database_url, "launcher")
        deadline = time.monotonic() + 60
        while True:
            response = httpx.get(
                f"{launcher.base_url}/api/v1/version", headers={"X-API-Key": key}, timeout=5
            )
            if list(response.json()["yt_dlp_workers"].values()) == ["2099.1.1"]:
                break
            assert time.monotonic() < deadline, response.json()
            time.sleep(0.2)
        stop_and_assert_nothing_is_left(launcher)
