"""Dependency checks for /health/detailed, run concurrently, each bounded by a timeout, and
the figures /metrics adds to the recorded series."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from importlib import metadata

import anyio
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.state import AppState
from app.downloads.engine import breaker
from app.health.schemas import BreakerStatus, DependencyCheck, Readiness, Versions
from app.jobs.models import JobStatus
from app.jobs.repository import count_by_status, count_damaged_files
from app.metrics.render import render
from app.storage.base import StorageHandler, build_key
from app.worker.presence import live_workers

CHECK_TIMEOUT_SECONDS = 3.0
SERVICE_DISTRIBUTION = "youtube-download-service"


def versions() -> Versions:
    """What this API process runs: read from the installed distributions, so it is what is
    really loaded, not what a file claims."""
    return Versions(service=_version_of(SERVICE_DISTRIBUTION), yt_dlp=_version_of("yt-dlp"))


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


Check = Callable[[], Awaitable[None]]


async def _timed(check: Check) -> DependencyCheck:
    started = time.perf_counter()
    try:
        with anyio.fail_after(CHECK_TIMEOUT_SECONDS):
            await check()
    except TimeoutError:
        error: str | None = f"timed out after {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    else:
        error = None
    return DependencyCheck(
        ok=error is None, latency_ms=round((time.perf_counter() - started) * 1000, 1), error=error
    )


async def check_all(
    *, sessions: async_sessionmaker[AsyncSession], redis: Redis, storage: StorageHandler
) -> Readiness:
    async def database() -> None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))

    async def redis_ping() -> None:
        await redis.ping()

    def storage_roundtrip() -> None:
        key = build_key("health", f"{uuid.uuid4().hex}.probe")
        payload = uuid.uuid4().bytes
        storage.write(key, payload)
        try:
            if storage.read(key) != payload:
                raise RuntimeError("read back different bytes")
        finally:
            storage.delete(key)

    async def worker_presence() -> None:
        if not await live_workers(redis):
            raise RuntimeError("no worker is running")

    checks: dict[str, Check] = {
        "database": database,
        "redis": redis_ping,
        "storage": lambda: anyio.to_thread.run_sync(storage_roundtrip, abandon_on_cancel=True),
        "worker": worker_presence,
    }
    results: dict[str, DependencyCheck] = {}
    paused = breaker.BreakerState(open=False, retry_in_seconds=0)

    async def run(name: str, check: Check) -> None:
        results[name] = await _timed(check)

    async def read_breaker() -> None:
        nonlocal paused
        with anyio.move_on_after(CHECK_TIMEOUT_SECONDS):
            paused = await breaker.state_async(redis)

    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(run, name, check)
        group.start_soon(read_breaker)
    ok = all(result.ok for result in results.values())
    return Readiness(
        status="ok" if ok else "degraded",
        checks=dict(sorted(results.items())),
        circuit_breakers={
            breaker.NAME: BreakerStatus(open=paused.open, retry_in_seconds=paused.retry_in_seconds)
        },
    )


async def render_metrics(state: AppState, session: AsyncSession, redis: Redis) -> bytes:
    await state.metrics.flush()  # this process's latest requests count too
    counts = await session.run_sync(count_by_status)
    damaged = await session.run_sync(count_damaged_files)
    paused = await breaker.state_async(redis)
    return await render(
        redis,
        queue_depth=counts.get(JobStatus.QUEUED, 0),
        jobs_in_flight=counts.get(JobStatus.PROCESSING, 0),
        breakers_open={breaker.NAME: paused.open},
        damaged_files={state.value: count for state, count in damaged.items()},
    )
