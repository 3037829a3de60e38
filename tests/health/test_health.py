"""/health/detailed reports each dependency with its latency and stays fast when one hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from app.health.service import CHECK_TIMEOUT_SECONDS
from app.main import create_app
from tests.support.databases import DatabaseFactory
from tests.support.faults import silent_server
from tests.support.offline_youtube import OfflineYouTube
from tests.support.stack import running_stack


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers, like a hung Redis."""
    with silent_server() as port:
        yield f"redis://127.0.0.1:{port}/0"


async def test_a_hanging_dependency_fails_fast_with_503(
    settings: Settings, black_hole: str
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": black_hole}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            started = time.monotonic()
            response = await client.get("/health/detailed")
            elapsed = time.monotonic() - started
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False and "timed out" in checks["redis"]["error"]
    assert checks["database"]["ok"] is True and checks["storage"]["ok"] is True
    assert all(isinstance(check["latency_ms"], float) for check in checks.values())
    assert elapsed < CHECK_TIMEOUT_SECONDS + 1.5, "checks run concurrently, each bounded"


async def test_liveness_needs_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_worker_check_follows_the_workers_presence_with_any_broker(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path
) -> None:
    # Workers announce themselves in Redis rather than answering a broadcast ping, which
    # SQS cannot carry; a worker stopped cleanly leaves the check at once.
    with running_stack(
        database_url=db_factory.sqlite(), youtube=offline_youtube, base_dir=tmp_path
    ) as stack:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
            health = (await http.get("/health/detailed")).json()
            assert health["checks"]["worker"]["ok"] is True
            stack.workers[0].stop()
            response = await http.get("/health/detailed")
    assert response.status_code == 503
    worker = response.json()["checks"]["worker"]
    assert worker["ok"] is False and worker["error"] == "RuntimeError: no worker is running"
