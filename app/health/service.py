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
from app.core.config import Settings
from app.health.schemas import BreakerStatus, DependencyCheck, Readiness, Versions
from app.jobs.models import JobStatus
from app.jobs.repository import count_by_status, count_damaged_files
from app.metrics.render import render
from app.storage.base import StorageHandler, build_key
from app.worker.presence import live_workers
from app.youtube import routes
from app.youtube.routes import RouteState

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


def breaker_statuses(states: list[RouteState]) -> dict[str, BreakerStatus]:
    """`youtube`: open while every route rests (new YouTube work waits); then one breaker per
    route, named by its proxy without credentials ("route:direct" without one)."""
    paused = routes.all_resting(states)
    statuses = {
        routes.ALL_ROUTES: BreakerStatus(
            open=paused, retry_in_seconds=routes.earliest_wake(states) if paused else 0
        )
    }
    for state in states:
        statuses[f"route:{state.name}"] = BreakerStatus(
            open=state.resting, retry_in_seconds=state.retry_in_seconds
        )
    return statuses


async def check_all(
    *,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    storage: StorageHandler,
    settings: Settings,
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
    states: list[RouteState] = []

    async def run(name: str, check: Check) -> None:
        results[name] = await _timed(check)

    async def read_breakers() -> None:
        nonlocal states
        with anyio.move_on_after(CHECK_TIMEOUT_SECONDS):
            states = await routes.route_states_async(redis, settings)

    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(run, name, check)
        group.start_soon(read_breakers)
    ok = all(result.ok for result in results.values())
    return Readiness(
        status="ok" if ok else "degraded",
        checks=dict(sorted(results.items())),
        circuit_breakers=breaker_statuses(states),
    )


async def render_metrics(state: AppState, session: AsyncSession, redis: Redis) -> bytes:
    await state.metrics.flush()  # this process's latest requests count too
    counts = await session.run_sync(count_by_status)
    damaged = await session.run_sync(count_damaged_files)
    breakers = breaker_statuses(await routes.route_states_async(redis, state.settings))
    return await render(
        redis,
        queue_depth=counts.get(JobStatus.QUEUED, 0),
        jobs_in_flight=counts.get(JobStatus.PROCESSING, 0),
        breakers_open={name: status.open for name, status in breakers.items()},
        damaged_files={state.value: count for state, count in damaged.items()},
    )
