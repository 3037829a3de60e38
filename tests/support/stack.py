"""Real service processes for end-to-end tests: uvicorn running the API and Celery workers,
started with the same commands a user runs, logging to files shown when a test fails; and
`running_stack`, an API with its worker(s) like `make run` (the `start_stack` fixture starts
a module's stacks with it).

Nothing here imports `app`: the fixture plugins import this module before the run's
environment is set."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import redis

from tests.support.constants import TEST_REDIS_DB
from tests.support.fixtures.services import session_services
from tests.support.services import free_port

if TYPE_CHECKING:
    from tests.support.offline_youtube import OfflineYouTube
    from tests.support.s3 import S3Server

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ManagedProcess:
    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}"
                )
            time.sleep(0.1)
        raise TimeoutError(
            f"{self.name} did not log {needle!r} in {timeout} s:\n{self.log()[-4000:]}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Signal the main process, as an orchestrator would, then kill what is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if sig == signal.SIGKILL:
                    os.killpg(self.proc.pid, sig)
                else:
                    self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stray children of a crashed parent
        self._log.close()

    def kill(self) -> None:
        """kill -9 of the whole process group, as a crash would."""
        self.stop(signal.SIGKILL)


# The download queues by priority, in the order a worker prefers them (as `make run`).
WORKER_QUEUES = "maintenance,downloads.high,downloads,downloads.low"
# What a speech-recognition worker consumes (`make run` starts one with ASR_ENABLED).
TRANSCRIPTION_QUEUES = "transcription"


def worker_command(
    *,
    name: str,
    concurrency: int = 2,
    beat_schedule: Path | None = None,
    queues: str = WORKER_QUEUES,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "app.core.celery_app",
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]
    if beat_schedule is None:
        return command
    return [*command, "-B", "--schedule", str(beat_schedule)]


def api_command() -> list[str]:
    """The API's entry point; it takes HOST and PORT from the environment like in production."""
    return [sys.executable, "-m", "app.serve"]


def start_worker(
    env: dict[str, str],
    log_dir: Path,
    *,
    name: str = "worker",
    concurrency: int = 2,
    beat: bool = False,
    queues: str = WORKER_QUEUES,
) -> ManagedProcess:
    schedule = log_dir / f"{name}-beat-schedule" if beat else None
    command = worker_command(
        name=name, concurrency=concurrency, beat_schedule=schedule, queues=queues
    )
    worker = ManagedProcess(name, command, env, log_dir)
    worker.wait_for_log(" ready.")
    return worker


def start_api(
    env: dict[str, str], log_dir: Path, *, name: str = "api"
) -> tuple[ManagedProcess, str]:
    port = free_port()
    api = ManagedProcess(
        name, api_command(), {**env, "HOST": "127.0.0.1", "PORT": str(port)}, log_dir
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.proc.poll() is not None:
            raise RuntimeError(f"the API exited with {api.proc.returncode}:\n{api.log()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return api, base_url
        time.sleep(0.1)
    api.stop()
    raise TimeoutError(f"the API did not answer /health:\n{api.log()[-4000:]}")


@dataclass
class Stack:
    """A running API and worker on a fresh SQLite database, like `make run`."""

    base_url: str
    ws_url: str
    database_url: str
    env: dict[str, str]
    api: ManagedProcess
    workers: list[ManagedProcess]
    storage_dir: Path
    work_dir: Path
    youtube: OfflineYouTube
    log_dir: Path
    s3: S3Server | None = None

    def key(self, name: str = "e2e") -> str:
        from tests.support.factories import issue_key

        return issue_key(self.database_url, name)

    def stored_names(self, job_id: str) -> set[str]:
        """Names of the objects stored for a job, in whichever storage the stack uses."""
        if self.s3 is None:
            folder = self.storage_dir / job_id
            return {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        prefix = f"{self.env['S3_PREFIX']}/{job_id}/"
        listing = self.s3.client().list_objects_v2(Bucket=self.env["S3_BUCKET_NAME"], Prefix=prefix)
        return {item["Key"].removeprefix(prefix) for item in listing.get("Contents", [])}

    def logs(self) -> str:
        return "\n".join(
            f"----- {p.name} -----\n{p.log()[-6000:]}" for p in [self.api, *self.workers]
        )


# The type of the `start_stack` fixture: `start_stack(name, **running_stack options)`.
StartStack = Callable[..., Stack]


def stack_env(
    *, database_url: str, base_dir: Path, youtube: OfflineYouTube, **extra: str
) -> dict[str, str]:
    site_env = youtube.env()
    return {
        **os.environ,
        **site_env,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), site_env["PYTHONPATH"]]),
        "DATABASE_URL": database_url,
        "DOWNLOAD_BASE_PATH": str(base_dir / "downloads"),
        "WORK_DIR": str(base_dir / "work"),
        "ALLOW_PRIVATE_NETWORKS": "true",
        **extra,
    }


@contextmanager
def running_stack(
    *,
    database_url: str,
    youtube: OfflineYouTube,
    base_dir: Path,
    redis_db: int = TEST_REDIS_DB,
    redis_url: str | None = None,
    s3: S3Server | None = None,
    workers: int = 1,
    beat: bool = False,
    extra: Mapping[str, str] | None = None,
    **settings: str,
) -> Iterator[Stack]:
    """Start the API and worker(s) with the same commands a user runs; stop them after.

    Stacks alive at the same time need their own Redis database, or one stack's worker
    would take (and drop) the other's messages. `workers=0` starts none (the test does).
    """
    redis_url = redis_url or f"{session_services().redis_url}/{redis_db}"
    env = stack_env(
        database_url=database_url,
        base_dir=base_dir,
        youtube=youtube,
        REDIS_URL=redis_url,
        **{**(extra or {}), **settings},
    )
    redis.Redis.from_url(redis_url).flushdb()
    started = [
        start_worker(env, base_dir, name=f"worker-{n}", beat=beat and n == 0)
        for n in range(workers)
    ]
    try:
        api, base_url = start_api(env, base_dir)
    except BaseException:
        for worker in started:
            worker.stop()
        raise
    running = Stack(
        base_url=base_url,
        ws_url=base_url.replace("http://", "ws://"),
        database_url=database_url,
        env=env,
        api=api,
        workers=started,
        storage_dir=base_dir / "downloads",
        work_dir=base_dir / "work",
        youtube=youtube,
        log_dir=base_dir,
        s3=s3,
    )
    try:
        yield running
    finally:
        for process in [running.api, *running.workers]:
            process.stop()
        print(running.logs())  # pytest shows it only when a test using the stack failed
