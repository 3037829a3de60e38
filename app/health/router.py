from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.core.dependencies import RedisClient, Storage
from app.health import service
from app.health.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Liveness, summary="Liveness (no auth)")
async def liveness() -> Liveness:
    return Liveness()


@router.get(
    "/health/detailed",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency failed"}},
    summary="Database, Redis, storage and worker checks (no auth)",
)
async def readiness(request: Request, redis: RedisClient, storage: Storage) -> JSONResponse:
    report = await service.check_all(
        sessions=request.app.state.sessions, redis=redis, storage=storage
    )
    return JSONResponse(
        report.model_dump(mode="json"), status_code=200 if report.status == "ok" else 503
    )
