"""The FastAPI application; `python -m app.serve` runs it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import redis
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.middleware import (
    BodyLimitMiddleware,
    HttpMetricsMiddleware,
    RateLimitHeadersMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from app.api.ratelimit import RateLimiter
from app.api.state import AppState, install_state
from app.api.usage import UsageBuffer
from app.auth import service as auth_service
from app.auth.keys import load_server_secret
from app.auth.router import router as admin_router
from app.auth.router import session_router
from app.core.broker import RedisTaskSender, is_redis_url
from app.core.config import Settings, get_settings
from app.core.database import api_sessionmaker, create_api_engine
from app.core.disk import FreeDiskGauge
from app.core.error_handlers import document_error_bodies, install_error_handlers
from app.core.expiring import ExpiringCache
from app.core.logging import configure_logging
from app.core.migrations import ensure_schema_current
from app.core.tracing import instrument_app, setup_tracing
from app.downloads.router import router as downloads_router
from app.health.router import router as health_router
from app.library.router import router as library_router
from app.metrics.api import ApiMetrics
from app.progress.hub import ProgressHub, install_hub
from app.progress.router import router as progress_router
from app.storage.factory import get_storage_handler
from app.subscriptions.feed_router import router as feeds_router
from app.subscriptions.router import router as subscriptions_router
from app.transcripts.router import router as transcripts_router
from app.videos.router import router as videos_router
from app.web.docs import router as docs_router
from app.web.router import install as install_web
from app.webhooks.router import router as webhooks_router
from app.youtube.cookies import MAX_COOKIE_FILE_BYTES
from app.youtube.router import COOKIES_PATH
from app.youtube.router import router as youtube_router

logger = logging.getLogger(__name__)

HUB_START_SECONDS = 3.0


def _redis_pool(url: str, *, max_connections: int, timeout: float) -> BlockingConnectionPool:
    """A pool that waits up to `timeout` for a free connection instead of failing at once."""
    return BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=5,
        socket_connect_timeout=3,
    )


def _build_state(settings: Settings, engine: AsyncEngine, ops_engine: AsyncEngine) -> AppState:
    pool_timeout = settings.redis_pool_timeout_seconds
    # from_pool: the client owns its pool, so closing the client disconnects the pool too.
    client = Redis.from_pool(
        _redis_pool(
            settings.redis_url, max_connections=settings.redis_max_connections, timeout=pool_timeout
        )
    )
    ops_client = Redis.from_pool(
        _redis_pool(
            settings.redis_url, max_connections=settings.redis_ops_max_connections, timeout=2
        )
    )
    limiter_pool = _redis_pool(
        settings.redis_url, max_connections=settings.redis_max_connections, timeout=pool_timeout
    )
    return AppState(
        settings=settings,
        engine=engine,
        sessions=api_sessionmaker(engine),
        redis=client,
        sync_redis=redis.Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=3
        ),
        storage=get_storage_handler(settings),
        key_secret=load_server_secret(settings),
        rate_limiter=RateLimiter(Redis.from_pool(limiter_pool)),
        metrics=ApiMetrics(ops_client),
        key_usage=UsageBuffer(client),
        ops_engine=ops_engine,
        ops_sessions=api_sessionmaker(ops_engine),
        ops_redis=ops_client,
        key_cache=ExpiringCache(settings.api_key_cache_seconds),
        free_disk=FreeDiskGauge(
            settings.download_base_path,
            settings.work_dir,
            max_age=settings.free_disk_check_seconds,
        ),
        task_sender=_task_sender(settings, client),
    )


def _task_sender(settings: Settings, client: Redis) -> RedisTaskSender | None:
    broker = settings.effective_broker_url
    if not is_redis_url(broker):
        return None
    if broker == settings.redis_url:
        return RedisTaskSender(client)
    return RedisTaskSender(Redis.from_url(broker, socket_timeout=5, socket_connect_timeout=3))


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_api_engine(settings.database_url)
        await ensure_schema_current(engine)
        state = _build_state(settings, engine, create_api_engine(settings.database_url))
        install_state(app, state)
        # Whatever has started is stopped again, also when a later step of the start-up
        # fails: a subscription left running would keep the failed process alive.
        async with AsyncExitStack() as started:
            started.push_async_callback(_close_connections, state)
            if settings.bootstrap_admin_api_key:
                async with state.sessions.begin() as session:
                    await session.run_sync(
                        auth_service.ensure_bootstrap_key,
                        settings.bootstrap_admin_api_key,
                        state.key_secret,
                    )
            hub = ProgressHub(
                settings.redis_url,
                capacity=settings.progress_stream_buffer,
                going_away=state.going_away,
                send_timeout=settings.progress_send_timeout_seconds,
            )
            install_hub(app, hub)
            hub.start()
            started.push_async_callback(hub.stop)
            state.metrics.start()
            started.push_async_callback(state.metrics.stop)
            state.key_usage.start()
            started.push_async_callback(state.key_usage.stop)
            # Streams opened right after start-up find the subscription in place (without
            # Redis they are told to come back later, and the API starts all the same).
            await hub.wait_subscribed(HUB_START_SECONDS)
            yield

    return lifespan


async def _close_connections(state: AppState) -> None:
    if state.task_sender is not None and state.task_sender.client is not state.redis:
        await state.task_sender.client.aclose()
    await state.redis.aclose()
    await state.rate_limiter.aclose()
    await state.ops_redis.aclose()
    state.sync_redis.close()
    await state.engine.dispose()
    await state.ops_engine.dispose()


def _openapi_with_key(app: FastAPI, header: str) -> Any:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=app.description
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": header}
            }
            for path, operations in schema["paths"].items():
                # Feeds and their files are fetched by podcast apps: no key, ever.
                if not path.startswith(("/health", "/feeds/")):
                    for operation in operations.values():
                        operation["security"] = [{"ApiKey": []}]
            document_error_bodies(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    # Before the engines exist (the lifespan makes them), so they are traced too.
    setup_tracing(settings, role="api")
    app = FastAPI(
        title="YouTube Download Service",
        version="0.1.0",
        description="Download YouTube videos and their transcripts; watch progress live.",
        # app.web.docs serves /api/docs and /api/redoc from vendored files, not a CDN
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=_lifespan(settings),
        debug=settings.debug,
        # Tracing is `core.tracing`'s, on TRACING_ENABLED alone: FastAPI must never set up
        # exporters of its own from OTEL_* variables.
        telemetry={"auto_configure": False},
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        path_limits={COOKIES_PATH: max(MAX_COOKIE_FILE_BYTES, settings.max_request_body_bytes)},
    )
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            # No credentials: other origins send keys in the header, never the UI's session
            # cookie (SameSite=Strict besides), so "*" stays safe.
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[settings.api_key_header, "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "Retry-After",
                "Content-Disposition",
            ],
        )
    app.add_middleware(RequestIdMiddleware)
    for router in (
        health_router,
        downloads_router,
        progress_router,
        transcripts_router,
        videos_router,
        library_router,
        subscriptions_router,
        admin_router,
        session_router,
        webhooks_router,
        youtube_router,
    ):
        app.include_router(router)
    app.include_router(feeds_router)
    app.include_router(docs_router)
    install_web(app)
    app.openapi = _openapi_with_key(app, settings.api_key_header)  # type: ignore[method-assign]
    instrument_app(app)
    return app
