from __future__ import annotations

import uuid

from fastapi import APIRouter, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import service as auth_service
from app.core.config import Settings
from app.downloads import repository
from app.downloads.models import Job
from app.downloads.presenter import present_job
from app.downloads.schemas import JobOut
from app.progress import service

router = APIRouter(tags=["progress"])


@router.websocket("/ws/progress/{job_id}")
async def progress_socket(websocket: WebSocket, job_id: str) -> None:
    """Live progress of one job. Key in the X-API-Key header or the `api_key` query parameter."""
    state = websocket.app.state
    settings: Settings = state.settings
    sessions: async_sessionmaker[AsyncSession] = state.sessions
    await websocket.accept()
    secret = websocket.headers.get(settings.api_key_header) or websocket.query_params.get("api_key")
    async with sessions() as session:
        api_key = await session.run_sync(auth_service.authenticate, secret) if secret else None
    if api_key is None:
        await websocket.close(code=service.CLOSE_UNAUTHORIZED, reason="missing or invalid API key")
        return
    try:
        job_uuid = uuid.UUID(job_id)
    except ValueError:
        await websocket.close(code=service.CLOSE_NOT_FOUND, reason="job not found")
        return

    async def load_job() -> Job | None:
        async with sessions() as session:
            return await session.run_sync(repository.get_owned_job, job_uuid, api_key.id)

    def present(job: Job) -> JobOut:
        return present_job(job, storage=state.storage, connection=websocket)

    state.metrics.websocket_clients += 1
    try:
        await service.stream_job(
            websocket, job_id=job_uuid, redis=state.redis, load_job=load_job, present=present
        )
    finally:
        state.metrics.websocket_clients -= 1
