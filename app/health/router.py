"""What operators and load balancers poll, without an API key: liveness, dependency checks
and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.dependencies import State, Storage
from app.auth.dependencies import CurrentKey
from app.auth.exceptions import AUTH_ERRORS
from app.core.errors import error_responses
from app.health import service
from app.health.schemas import Liveness, Readiness, Versions

router = APIRouter()


@router.get("/health", response_model=Liveness, summary="Liveness (no auth)", tags=["health"])
async def liveness() -> Liveness:
    return Liveness()


@router.get(
    "/api/v1/version",
    response_model=Versions,
    responses=error_responses(*AUTH_ERRORS),
    summary="The service's version and the yt-dlp of the API and each worker (any valid key)",
    tags=["health"],
)
async def version(_key: CurrentKey, state: State) -> Versions:
    # Behind a key: which yt-dlp a server runs is no business of anonymous scanners.
    return await service.versions(state.ops_redis)


@router.get(
    "/health/detailed",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency failed"}},
    summary="Database, Redis, storage and worker checks, and the yt-dlp in use (no auth)",
    tags=["health"],
)
async def readiness(state: State, storage: Storage) -> JSONResponse:
    # Its own database engine and Redis pool: what it reports is the dependencies' health,
    # not how busy the request pools are.
    report = await service.check_all(
        settings=state.settings, sessions=state.ops_sessions, redis=state.ops_redis, storage=storage
    )
    return JSONResponse(
        report.model_dump(mode="json"), status_code=200 if report.status == "ok" else 503
    )


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics for all API and worker processes (no auth)",
    tags=["metrics"],
)
async def metrics(state: State) -> Response:
    async with state.ops_sessions() as session:
        body = await service.render_metrics(state, session, state.ops_redis)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
