from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.dependencies import DbSession, RedisClient
from app.downloads import breaker, repository
from app.metrics import service

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics for all API and worker processes (no auth)",
)
async def metrics(request: Request, session: DbSession, redis: RedisClient) -> Response:
    await request.app.state.metrics.flush()  # this process's latest requests count too
    counts = await session.run_sync(repository.count_by_status)
    breaker_state = await breaker.state_async(redis)
    body = await service.render(redis, jobs_by_status=counts, breaker_open=breaker_state.open)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
