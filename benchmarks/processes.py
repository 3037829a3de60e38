"""What the benchmarks start and watch: a private Redis, the API as in production
(`python -m app.serve`) with a key of its own, and the CPU and memory a process used."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import IO

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SECRET = "benchmark-secret-for-api-key-hmacs-0123456789abcdef"


# A request without thumbnail, metadata or captions: what bare yt-dlp does on the same URL.
LEAN_REQUEST = {"include_thumbnail": False, "embed_metadata": False, "include_transcription": False}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used: unlike wall time, it hardly depends on
    what else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A private Redis that keeps nothing on disk, and its URL."""
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        raise SystemExit("redis-server is needed (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen(
        [redis_binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    return server, f"redis://127.0.0.1:{port}/0"


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{url} did not come up")
        time.sleep(0.1)


def api_env(
    database_url: str, redis_url: str, workdir: Path, port: int, **settings: str
) -> dict[str, str]:
    """The API's environment: its database, Redis and directories, rate limits out of the
    way (a benchmark is one client), and `settings` on top."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        "API_KEY_SECRET": SECRET,
        "DOWNLOAD_BASE_PATH": str(workdir / "downloads"),
        "WORK_DIR": str(workdir / "work"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "RATE_LIMIT_PER_IP_PER_MINUTE": "100000000",
        **settings,
    }


def create_key(env: dict[str, str]) -> str:
    """Migrate the database `env` names and create an API key in it: the key."""
    run = {"env": env, "cwd": PROJECT_ROOT, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], **run)  # type: ignore[call-overload]
    created: subprocess.CompletedProcess[bytes] = subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "app.cli", "api-keys", "create", "--name", "bench"], **run
    )
    return next(w for w in created.stdout.decode().split() if w.startswith("yds_"))


def start_api(
    env: dict[str, str], *, log: IO[bytes] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Migrate the database, create a key, start the API: the process and the key."""
    key = create_key(env)
    api = subprocess.Popen(
        [sys.executable, "-m", "app.serve"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else None,
    )
    wait_up(f"http://127.0.0.1:{env['PORT']}/health", api)
    return api, key
