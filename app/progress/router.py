from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Header, Request, Response, WebSocket, WebSocketDisconnect
from starlette.requests import HTTPConnection

from app.api.dependencies import State
from app.api.protocol import EXPRESS
from app.api.state import AppState, app_state
from app.auth.dependencies import authenticate_connection, finder, loader, require_scope
from app.auth.exceptions import AUTH_ERRORS as KEY_ERRORS
from app.auth.exceptions import InsufficientScope
from app.auth.models import ApiKey, Scope
from app.core.config import Settings
from app.core.errors import AppError, error_responses
from app.downloads import families
from app.downloads.families import ChildState
from app.downloads.presenter import present_job
from app.downloads.schemas import JobOut
from app.downloads.service import workers_alive
from app.jobs.dependencies import ReadableJob
from app.jobs.exceptions import JobNotFound
from app.jobs.models import Job
from app.jobs.repository import get_owned_job
from app.progress import service
from app.progress.hub import hub_of
from app.progress.service import Ending, JobSource, Sink, StreamLimits
from app.progress.sse import EventStreamResponse

logger = logging.getLogger(__name__)

router = APIRouter(tags=["progress"])
# How long a close frame may wait behind what a slow client has not read yet.
CLOSE_SECONDS = 30.0
EVENTS_DESCRIPTION = (
    "`text/event-stream`: the job's snapshot, then its events, each as `id: <seq>` and "
    "`data: <JSON>` (the messages of `WS /ws/progress/{job_id}`); ends after the terminal "
    "event. Idle streams get `: keep-alive` comments. With `Last-Event-ID` the missed events "
    "are replayed, or a fresh snapshot is sent when they are no longer kept."
)


def _json_errors(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """`error_responses` with the JSON body spelled out: given a model, FastAPI would
    document it in the route's own media type, the event stream."""
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    return {
        status: {"description": entry["description"], "content": body}
        for status, entry in error_responses(*errors).items()
    }


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
    loads = hub_of(websocket).loads

    async def find(secret: str) -> ApiKey:
        # Sockets opening at once with one key (a reconnect storm) share one lookup.
        async def lookup() -> ApiKey:
            async with state.sessions() as session:
                return await finder(session, state)(secret)

        return await loads.load(("key", secret), lookup)

    async def load(key_id: uuid.UUID) -> ApiKey:
        async with state.sessions() as session:
            return await loader(session)(key_id)

    try:
        api_key = await authenticate_connection(websocket, settings, find, load)
        require_scope(api_key, Scope.DOWNLOADS_READ)
    except AppError as error:
        # 401 -> 4401, 403 -> 4403, 429 -> 4429: the HTTP status inside WebSocket's range.
        await websocket.close(code=4000 + error.status_code, reason=error.code)
        return None
    return api_key


def _source(connection: HTTPConnection, job_id: uuid.UUID, api_key_id: uuid.UUID) -> JobSource:
    state = app_state(connection)

    async def load_job() -> Job | None:
        async with state.sessions() as session:
            job: Job | None = await session.run_sync(get_owned_job, job_id, api_key_id)
            return job

    async def load_children() -> list[ChildState]:
        async with state.sessions() as session:
            children: list[ChildState] = await session.run_sync(families.child_states, job_id)
            return children

    async def present(job: Job) -> JobOut:
        async with state.sessions() as session:
            family = (await session.run_sync(families.families, [job])).get(job.id)
        return present_job(
            job,
            storage=state.storage,
            connection=connection,
            family=family,
            workers_alive=await workers_alive(state, [job]),
        )

    viewer = (api_key_id, str(connection.base_url))  # file URLs are built from the address
    return JobSource(job_id, viewer, load_job, load_children, present)


def _limits(settings: Settings) -> StreamLimits:
    return StreamLimits(
        send_timeout=settings.progress_send_timeout_seconds,
        keepalive=settings.progress_keepalive_seconds,
    )


def _after(raw: str | None) -> int | None:
    """`?after=`: a position the client saw; anything else gets a fresh snapshot."""
    return int(raw) if raw is not None and raw.isdigit() else None


class _SocketSink:
    __slots__ = ("_express", "_websocket")

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        # Offered by our uvicorn protocol (app.serve); another server leaves it out.
        self._express: Callable[[bytes], bool] | None = websocket.scope.get("extensions", {}).get(
            EXPRESS
        )

    def express(self, frame: bytes) -> bool:
        return self._express is not None and self._express(frame)

    async def send(self, text: str, seq: int | None) -> None:
        await self._websocket.send_text(text)

    async def idle(self) -> None:
        """uvicorn pings idle WebSockets itself."""


@router.websocket("/ws/progress/{job_id}")
async def progress_socket(websocket: WebSocket, job_id: str) -> None:
    """Live progress of one job (of a playlist: its entries' events and an aggregate). Key
    in the X-API-Key header or the `api_key` query parameter; `?after=SEQ` resumes."""
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
    state.metrics.websocket_opened()
    try:
        ending = await _run_socket(websocket, state, job_uuid, api_key.id)
        if ending is not None:
            await _close(websocket, job_uuid, ending)
    finally:
        state.metrics.websocket_closed()


async def _run_socket(
    websocket: WebSocket, state: AppState, job_id: uuid.UUID, api_key_id: uuid.UUID
) -> Ending | None:
    """The stream's ending, or None when the client left first (the stream is cancelled
    as soon as its disconnect arrives)."""
    stream = asyncio.current_task()
    assert stream is not None
    left = _ClientLeft(stream)
    watcher = asyncio.create_task(_watch_disconnect(websocket))
    watcher.add_done_callback(left.on_disconnect)
    try:
        return await service.stream_job(
            _SocketSink(websocket),
            source=_source(websocket, job_id, api_key_id),
            after=_after(websocket.query_params.get("after")),
            hub=hub_of(websocket),
            redis=state.redis,
            limits=_limits(state.settings),
        )
    except WebSocketDisconnect:
        return None
    except asyncio.CancelledError:
        if not left.cancelled:
            raise
        stream.uncancel()
        return None
    finally:
        left.done = True
        watcher.cancel()


class _ClientLeft:
    """Cancels a stream when its client's disconnect arrives (a plain task and a callback:
    thousands of sockets make each object per socket count)."""

    __slots__ = ("cancelled", "done", "stream")

    def __init__(self, stream: asyncio.Task[Any]) -> None:
        self.stream = stream
        self.done = False
        self.cancelled = False

    def on_disconnect(self, watcher: asyncio.Task[None]) -> None:
        if not self.done and not watcher.cancelled():
            self.cancelled = True
            self.stream.cancel()


async def _close(websocket: WebSocket, job_id: uuid.UUID, ending: Ending) -> None:
    if ending.code == service.CLOSE_TOO_SLOW:
        logger.info("progress stream of job %s closed: client too slow", job_id)
    # The close frame queues behind what a slow client has not read; past the deadline the
    # connection is left to uvicorn, which drops it once the client reads or goes.
    with anyio.move_on_after(CLOSE_SECONDS), suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(code=ending.code, reason=ending.reason)


async def _watch_disconnect(websocket: WebSocket) -> None:
    with suppress(RuntimeError):  # receive after the disconnect was seen elsewhere
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


@router.get(
    "/api/v1/downloads/{job_id}/events",
    status_code=200,
    response_class=EventStreamResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        204: {"description": "Resumed after the job's last event: nothing more will come."},
        **_json_errors(JobNotFound, *KEY_ERRORS, InsufficientScope),
    },
    summary="Live progress as server-sent events",
    description=EVENTS_DESCRIPTION,
)
async def job_events(
    job: ReadableJob,
    request: Request,
    state: State,
    last_event_id: Annotated[int | None, Header(ge=0, description="The last `seq` seen.")] = None,
) -> Response:
    if await service.seen_to_the_end(state.redis, job, last_event_id):
        return Response(status_code=204)  # EventSource stops reconnecting on a 204
    source = _source(request, job.id, job.api_key_id)

    async def run(sink: Sink) -> Ending:
        state.metrics.websocket_opened()
        try:
            return await service.stream_job(
                sink,
                source=source,
                after=last_event_id,
                hub=hub_of(request),
                redis=state.redis,
                limits=_limits(state.settings),
            )
        finally:
            state.metrics.websocket_closed()

    return EventStreamResponse(run)
