"""Real service processes for end-to-end tests: uvicorn running the API and Celery workers,
started with the same commands a user runs, logging to files shown when a test fails."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import free_port

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


def worker_command(
    *, name: str, concurrency: int = 2, beat_schedule: Path | None = None
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "app.core.celery_app",
        "worker",
        "-Q",
        "downloads,maintenance",
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
) -> ManagedProcess:
    schedule = log_dir / f"{name}-beat-schedule" if beat else None
    command = worker_command(name=name, concurrency=concurrency, beat_schedule=schedule)
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
