"""Shared fixtures: real PostgreSQL, Redis, yt-dlp, ffmpeg and service processes.

Service discovery happens in `pytest_configure`, before any test module imports `app`, so
the settings every process reads (and the Celery app built from them) point at the test
Redis database and temporary directories.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
import redis

from tests.support.services import Services, ServiceUnavailable, start_services

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.auth.service import IssuedKey
    from app.core.config import Settings
    from tests.support.databases import DatabaseFactory
    from tests.support.offline_youtube import OfflineYouTube
    from tests.support.stack import ManagedProcess

TEST_REDIS_DB = 15
TEST_KEY_SECRET = "test-server-secret-for-api-key-hmacs-0123456789"
_RUN_DIR = Path(tempfile.mkdtemp(prefix="yds-tests-"))
_services: Services | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _services
    try:
        _services = start_services(_RUN_DIR / "services")
    except ServiceUnavailable as exc:
        raise pytest.UsageError(f"Test services are unavailable: {exc}") from exc
    redis_url = f"{_services.redis_url}/{TEST_REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    os.environ.update(
        {
            "ENVIRONMENT": "localhost",
            "REDIS_URL": redis_url,
            "BROKER_URL": "",
            "DATABASE_URL": f"sqlite+aiosqlite:///{_RUN_DIR / 'default.db'}",
            "DOWNLOAD_BASE_PATH": str(_RUN_DIR / "downloads"),
            "WORK_DIR": str(_RUN_DIR / "work"),
            "BOOTSTRAP_ADMIN_API_KEY": "",
            "LOG_LEVEL": "INFO",
            "STORAGE_BACKEND": "auto",
            "API_KEY_SECRET": TEST_KEY_SECRET,
            # Hundreds of requests from 127.0.0.1 within a minute; the limits have own tests.
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "RATE_LIMIT_PER_IP_PER_MINUTE": "1000000",
            # moto's S3 accepts any credentials; boto3 needs some to sign requests.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for inherited in ("ECS_CONTAINER_METADATA_URI", "ECS_CONTAINER_METADATA_URI_V4", "AWS_PROFILE"):
        os.environ.pop(inherited, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _services is not None:
        _services.stop()
    shutil.rmtree(_RUN_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def services() -> Services:
    assert _services is not None
    return _services


@pytest.fixture(scope="session")
def run_dir() -> Path:
    return _RUN_DIR


@pytest.fixture(scope="session")
def db_factory(services: Services, run_dir: Path) -> Iterator[DatabaseFactory]:
    from tests.support.databases import DatabaseFactory

    workdir = run_dir / "databases"
    workdir.mkdir(exist_ok=True)
    factory = DatabaseFactory(postgres_dsn=services.postgres_dsn, workdir=workdir)
    yield factory
    factory.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    backend_name: str = request.param
    return backend_name


@pytest.fixture
def database_url(backend: str, db_factory: DatabaseFactory) -> str:
    """A fresh migrated database; tests using it run once per backend."""
    return db_factory.new(backend)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    from app.core.config import Settings

    return Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=os.environ["REDIS_URL"],
        download_base_path=tmp_path / "downloads",
        work_dir=tmp_path / "work",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from app.main import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


KeyFactory = Callable[..., str]


def create_key(database_url: str, name: str = "test", **options: Any) -> IssuedKey:
    """Row factory for API keys, through the same service the CLI uses."""
    from app.auth import service as auth_service
    from app.core.database import create_sync_engine, session_scope, sync_sessionmaker

    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            return auth_service.issue_key(
                session, name=name, server_secret=TEST_KEY_SECRET.encode(), **options
            )
    finally:
        engine.dispose()


def issue_key(database_url: str, name: str = "test", scopes: list[str] | None = None) -> str:
    """A new key's secret (see create_key)."""
    return create_key(database_url, name, scopes=scopes).secret


@pytest.fixture
def make_key(database_url: str) -> KeyFactory:
    def make(name: str = "test", scopes: list[str] | None = None) -> str:
        return issue_key(database_url, name, scopes)

    return make


@pytest.fixture(scope="session")
def offline_youtube(run_dir: Path) -> Iterator[OfflineYouTube]:
    from tests.support.offline_youtube import OfflineYouTube

    with OfflineYouTube(run_dir / "media-site") as site:
        yield site


@pytest.fixture(scope="session")
def youtube_in_process(offline_youtube: OfflineYouTube) -> OfflineYouTube:
    """The offline YouTube site, also answering yt-dlp inside this test process."""
    offline_youtube.activate()
    return offline_youtube


@dataclass
class S3Server:
    """moto's S3 in server mode on loopback: the real protocol, over HTTP."""

    endpoint: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"yds-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings_env(self, bucket: str, prefix: str = "yds") -> dict[str, str]:
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET_NAME": bucket,
            "S3_PREFIX": prefix,
            "S3_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    from tests.support.services import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint=f"http://127.0.0.1:{port}")
    finally:
        server.stop()


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


def stack_env(
    *, database_url: str, base_dir: Path, youtube: OfflineYouTube, **extra: str
) -> dict[str, str]:
    root = Path(__file__).resolve().parents[1]
    site_env = youtube.env()
    return {
        **os.environ,
        **site_env,
        "PYTHONPATH": os.pathsep.join([str(root), site_env["PYTHONPATH"]]),
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
    from tests.support.stack import start_api, start_worker

    assert _services is not None
    redis_url = redis_url or f"{_services.redis_url}/{redis_db}"
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


StartStack = Callable[..., Stack]


@pytest.fixture(scope="module")
def start_stack(
    db_factory: DatabaseFactory,
    offline_youtube: OfflineYouTube,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StartStack]:
    """`start_stack(name, **running_stack options)`: a stack for this module, on a new
    SQLite database unless `database_url` is given; all of them stop when the module ends."""
    with ExitStack() as started:

        def start(name: str, *, database_url: str | None = None, **options: Any) -> Stack:
            return started.enter_context(
                running_stack(
                    database_url=database_url or db_factory.sqlite(),
                    youtube=offline_youtube,
                    base_dir=tmp_path_factory.mktemp(name),
                    **options,
                )
            )

        yield start


@pytest.fixture(scope="module")
def stack(start_stack: StartStack) -> Stack:
    """API and worker on SQLite, the embedded default."""
    return start_stack("stack")


@pytest.fixture(scope="module")
def s3_stack(start_stack: StartStack, s3_server: S3Server) -> Stack:
    """API and worker on SQLite, storing to S3 (moto's server on loopback)."""
    return start_stack(
        "s3-stack",
        redis_db=TEST_REDIS_DB - 2,
        s3=s3_server,
        extra=s3_server.settings_env(s3_server.new_bucket()),
    )


@pytest.fixture(scope="module")
def pg_stack(start_stack: StartStack, db_factory: DatabaseFactory) -> Stack:
    """API and worker on PostgreSQL, as in production."""
    return start_stack("pg-stack", database_url=db_factory.postgres(), redis_db=TEST_REDIS_DB - 1)
