"""Dependency checks for /health/detailed, run concurrently, each bounded by a timeout, and
the figures /metrics adds to the recorded series."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib import metadata

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.state import AppState
from app.core.config import Settings
from app.core.ytdlp_home import pinned_version
from app.health.schemas import (
    BreakerStatus,
    DependencyCheck,
    Readiness,
    Versions,
    YtdlpUpdateStatus,
    YtdlpVersions,
)
from app.jobs.models import JobStatus
from app.jobs.repository import count_by_status, count_damaged_files
from app.metrics.render import render
from app.storage.base import StorageHandler, build_key
from app.worker.presence import live_worker_versions, live_workers
from app.youtube import routes
from app.youtube.routes import RouteState
from app.youtube.updates import running_version, update_status, update_status_anywhere

CHECK_TIMEOUT_SECONDS = 3.0
SERVICE_DISTRIBUTION = "youtube-download-service"


async def versions(redis: Redis) -> Versions:
    """What this API process runs (the yt-dlp it has loaded, not what a file claims), and
    the yt-dlp of each live worker."""
    return Versions(
        service=_version_of(SERVICE_DISTRIBUTION),
        yt_dlp=running_version(),
        yt_dlp_workers=await _worker_versions(redis),
    )


async def _worker_versions(redis: Redis) -> dict[str, str]:
    workers: dict[str, str] = {}
    # Redis being down is the "redis" check's to report: then no worker versions are known.
    with anyio.move_on_after(CHECK_TIMEOUT_SECONDS), contextlib.suppress(RedisError):
        workers = await live_worker_versions(redis)
    return workers


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


async def ytdlp_versions(settings: Settings, redis: Redis) -> YtdlpVersions:
    """The yt-dlp this API runs, each live worker's, and the state of updates."""
    workers: dict[str, str] = {}
    status = update_status(settings)
    # Redis being down is the "redis" check's to report: then only what this process sees.
    with anyio.move_on_after(CHECK_TIMEOUT_SECONDS), contextlib.suppress(RedisError):
        workers = await live_worker_versions(redis)
        status = await update_status_anywhere(settings, redis)
    return YtdlpVersions(
        api=running_version(),
        workers=workers,
        update=YtdlpUpdateStatus.model_validate(dataclasses.asdict(status)),
    )


async def check_all(
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    storage: StorageHandler,
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
    ytdlp: YtdlpVersions | None = None

    async def run(name: str, check: Check) -> None:
        results[name] = await _timed(check)

    async def read_versions() -> None:
        nonlocal ytdlp
        ytdlp = await ytdlp_versions(settings, redis)

    async def read_breakers() -> None:
        nonlocal states
        with anyio.move_on_after(CHECK_TIMEOUT_SECONDS):
            states = await routes.route_states_async(redis, settings)

    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(run, name, check)
        group.start_soon(read_breakers)
        group.start_soon(read_versions)
    assert ytdlp is not None
    ok = all(result.ok for result in results.values())
    return Readiness(
        status="ok" if ok else "degraded",
        checks=dict(sorted(results.items())),
        circuit_breakers=breaker_statuses(states),
        yt_dlp=ytdlp,
    )


async def render_metrics(state: AppState, session: AsyncSession, redis: Redis) -> bytes:
    await state.metrics.flush()  # this process's latest requests count too
    counts = await session.run_sync(count_by_status)
    damaged = await session.run_sync(count_damaged_files)
    breakers = breaker_statuses(await routes.route_states_async(redis, state.settings))
    pinned = pinned_version(state.settings)
    running = {"api": running_version(), **await live_worker_versions(redis)}
    return await render(
        redis,
        queue_depth=counts.get(JobStatus.QUEUED, 0),
        jobs_in_flight=counts.get(JobStatus.PROCESSING, 0),
        breakers_open={name: status.open for name, status in breakers.items()},
        damaged_files={state.value: count for state, count in damaged.items()},
        ytdlp_versions={
            process: (version, "pinned" if version == pinned else "updated")
            for process, version in running.items()
        },
    )
