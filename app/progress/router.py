from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket

from app.api.state import AppState, app_state
from app.auth.dependencies import authenticate, require_scope
from app.auth.models import ApiKey, Scope
from app.core.config import Settings
from app.core.errors import AppError
from app.downloads import families
from app.downloads.families import ChildState
from app.downloads.presenter import present_job
from app.downloads.schemas import JobOut
from app.downloads.service import workers_alive
from app.jobs.models import Job
from app.jobs.repository import get_owned_job
from app.progress import service

router = APIRouter(tags=["progress"])


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers send Origin: accept the API's own origin and CORS_ORIGINS; other clients
    send none."""
    origin = websocket.headers.get("origin")
    if origin is None or "*" in settings.cors_origins:
        return True
    origin = origin.rstrip("/")
    own = f"{'https' if websocket.url.scheme == 'wss' else 'http'}://{websocket.url.netloc}"
    return origin in settings.cors_origins or urlsplit(origin).netloc == urlsplit(own).netloc


async def _authorize(websocket: WebSocket, state: AppState) -> ApiKey | None:
    settings = state.settings
    secret = websocket.headers.get(settings.api_key_header) or websocket.query_params.get("api_key")
    try:
        async with state.sessions() as session:
            api_key = await authenticate(websocket, session, settings, secret)
        require_scope(api_key, Scope.DOWNLOADS_READ)
    except AppError as error:
        # 401 -> 4401, 403 -> 4403, 429 -> 4429: the HTTP status inside WebSocket's range.
        await websocket.close(code=4000 + error.status_code, reason=error.code)
        return None
    return api_key


@router.websocket("/ws/progress/{job_id}")
async def progress_socket(websocket: WebSocket, job_id: str) -> None:
    """Live progress of one job (of a playlist: its entries' events and an aggregate). Key
    in the X-API-Key header or the `api_key` query parameter."""
    state = app_state(websocket)
    await websocket.accept()
    if not origin_allowed(websocket, state.settings):
        await websocket.close(code=service.CLOSE_FORBIDDEN, reason="origin not allowed")
        return
    api_key = await _authorize(websocket, state)
    if api_key is None:
        return
    try:
        job_uuid = uuid.UUID(job_id)
    except ValueError:
        await websocket.close(code=service.CLOSE_NOT_FOUND, reason="job not found")
        return

    async def load_job() -> Job | None:
        async with state.sessions() as session:
            job: Job | None = await session.run_sync(get_owned_job, job_uuid, api_key.id)
            return job

    async def load_children() -> list[ChildState]:
        async with state.sessions() as session:
            children: list[ChildState] = await session.run_sync(families.child_states, job_uuid)
            return children

    async def present(job: Job) -> JobOut:
        async with state.sessions() as session:
            family = (await session.run_sync(families.families, [job])).get(job.id)
        return present_job(
            job,
            storage=state.storage,
            connection=websocket,
            family=family,
            workers_alive=await workers_alive(state, [job]),
        )

    state.metrics.websocket_opened()
    try:
        await service.stream_job(
            websocket,
            job_id=job_uuid,
            redis=state.redis,
            load_job=load_job,
            load_children=load_children,
            present=present,
            going_away=state.going_away,
        )
    finally:
        state.metrics.websocket_closed()
