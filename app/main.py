"""The FastAPI application; `python -m app.serve` runs it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import service as auth_service
from app.auth.keys import load_server_secret
from app.auth.ratelimit import RateLimiter, RateLimitHeadersMiddleware
from app.auth.router import router as admin_router
from app.auth.usage import UsageBuffer
from app.core.body_limit import BodyLimitMiddleware
from app.core.config import Settings, get_settings
from app.core.database import api_sessionmaker, create_api_engine
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging, request_id_var
from app.core.migrations import ensure_schema_current
from app.core.security_headers import SecurityHeadersMiddleware
from app.downloads.router import router as downloads_router
from app.health.router import router as health_router
from app.library.router import router as library_router
from app.metrics.api import ApiMetrics, HttpMetricsMiddleware
from app.metrics.router import router as metrics_router
from app.playlists.router import router as batches_router
from app.progress.router import router as progress_router
from app.storage.factory import get_storage_handler
from app.transcripts.router import router as transcripts_router
from app.videos.router import router as videos_router
from app.webhooks.router import router as webhooks_router

logger = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Echo X-Request-ID (or generate one) and bind it to every log line of the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_api_engine(settings.database_url)
        await ensure_schema_current(engine)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = api_sessionmaker(engine)
        app.state.redis = Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=3
        )
        app.state.storage = get_storage_handler(settings)
        app.state.key_secret = load_server_secret(settings)
        app.state.rate_limiter = RateLimiter(settings.redis_url)
        app.state.going_away = asyncio.Event()  # set on shutdown: WebSockets close with 1001
        app.state.metrics = ApiMetrics(app.state.redis)
        app.state.key_usage = UsageBuffer(app.state.redis)
        app.state.metrics.start()
        app.state.key_usage.start()
        if settings.bootstrap_admin_api_key:
            async with app.state.sessions.begin() as session:
                await session.run_sync(
                    auth_service.ensure_bootstrap_key,
                    settings.bootstrap_admin_api_key,
                    app.state.key_secret,
                )
        try:
            yield
        finally:
            await app.state.key_usage.stop()
            await app.state.metrics.stop()
            await app.state.redis.aclose()
            await engine.dispose()

    return lifespan


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
                if not path.startswith("/health"):
                    for operation in operations.values():
                        operation["security"] = [{"ApiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPI(
        title="YouTube Download Service",
        version="0.1.0",
        description="Download YouTube videos and their transcripts; watch progress live.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=_lifespan(settings),
        debug=settings.debug,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            # Keys travel in a header, never in cookies: no credentials, so "*" stays safe.
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
    app.include_router(health_router)
    app.include_router(downloads_router)
    app.include_router(batches_router)
    app.include_router(progress_router)
    app.include_router(transcripts_router)
    app.include_router(videos_router)
    app.include_router(library_router)
    app.include_router(metrics_router)
    app.include_router(admin_router)
    app.include_router(webhooks_router)
    app.openapi = _openapi_with_key(app, settings.api_key_header)  # type: ignore[method-assign]
    return app
