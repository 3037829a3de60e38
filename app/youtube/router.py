"""Admin routes for YouTube: the cookies yt-dlp sends (upload, status, removal) and the doctor."""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response

from app.api.dependencies import AppSettings, State
from app.auth.dependencies import AdminKey
from app.auth.exceptions import AUTH_ERRORS, InsufficientScope
from app.core.errors import error_responses
from app.storage.base import StorageUnavailable
from app.youtube import cookies, doctor
from app.youtube.exceptions import CookieStoreUnavailable, InvalidCookieFile
from app.youtube.schemas import CookieStatusOut, DoctorReport

PREFIX = "/api/v1/admin"
COOKIES_PATH = f"{PREFIX}/cookies"
router = APIRouter(prefix=PREFIX, tags=["admin"])
ERRORS = error_responses(*AUTH_ERRORS, InsufficientScope, CookieStoreUnavailable)
# The file is sent as it is (any type but JSON: text/plain, application/octet-stream), or
# wrapped in JSON; documented as octet-stream, which client generators understand.
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A Netscape cookie file (as browser extensions and yt-dlp export "
        'it), sent as it is (text/plain or application/octet-stream), or as JSON {"cookies": '
        '"<the file>"}. At most 1 MiB.',
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"cookies": {"type": "string"}},
                    "required": ["cookies"],
                }
            },
        },
    }
}


@router.put(
    "/cookies",
    response_model=CookieStatusOut,
    responses={**ERRORS, **error_responses(InvalidCookieFile)},
    openapi_extra=_UPLOAD_BODY,
)
async def upload_cookies(
    request: Request, settings: AppSettings, _admin: AdminKey
) -> CookieStatusOut:
    """Check a Netscape cookie file and send it with every download from now on (instead of
    YTDLP_COOKIES_FILE). The answer says how many cookies sign in and when they expire;
    no value is ever shown again."""
    text = _cookie_text(await request.body(), request.headers.get("content-type", ""))
    try:
        status = await anyio.to_thread.run_sync(cookies.save_cookies, settings, text)
    except cookies.CookieFileError as exc:
        raise InvalidCookieFile(str(exc)) from None
    except StorageUnavailable as exc:
        raise CookieStoreUnavailable() from exc
    return _out(status)


@router.get("/cookies", response_model=CookieStatusOut, responses=ERRORS)
async def show_cookies(settings: AppSettings, _admin: AdminKey) -> CookieStatusOut:
    """Where yt-dlp's cookies come from and how long they last; never a value. A file that
    cannot be read or parsed is reported in `error`, not as a failure."""
    return _out(await anyio.to_thread.run_sync(cookies.cookie_status, settings))


@router.delete("/cookies", status_code=204, responses=ERRORS)
async def remove_cookies(settings: AppSettings, _admin: AdminKey) -> Response:
    """Forget the uploaded cookies (YTDLP_COOKIES_FILE, if set, applies again)."""
    try:
        await anyio.to_thread.run_sync(cookies.remove_cookies, settings)
    except StorageUnavailable as exc:
        raise CookieStoreUnavailable() from exc
    return Response(status_code=204)


@router.get(
    "/doctor",
    response_model=DoctorReport,
    responses=error_responses(*AUTH_ERRORS, InsufficientScope),
)
async def run_doctor(state: State, settings: AppSettings, _admin: AdminKey) -> DoctorReport:
    """Every reason YouTube downloads could fail here, each with a status and a fix. Every
    check has its own time limit, so the answer comes within a few seconds."""
    # The operations pools: a loaded API still answers its doctor.
    return await doctor.diagnose(
        settings=settings, redis=state.ops_redis, sessions=state.ops_sessions
    )


def _cookie_text(body: bytes, content_type: str) -> bytes:
    if not content_type.lower().startswith("application/json"):
        return body
    # Parsed by hand: a validation error would echo the body, which holds the cookies.
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCookieFile("The JSON body is not valid JSON.") from None
    text = document.get("cookies") if isinstance(document, dict) else None
    if not isinstance(text, str):
        raise InvalidCookieFile('The JSON body must be {"cookies": "<a Netscape cookie file>"}.')
    return text.encode()


def _out(status: cookies.CookieStatus) -> CookieStatusOut:
    return CookieStatusOut(
        source=status.source,
        parseable=status.parseable,
        uploaded_at=status.uploaded_at,
        count=status.count,
        auth_cookies=status.auth_cookies,
        expires_at=status.expires_at,
        expired=status.expired,
        expiring_soon=status.expiring_soon,
        error=status.error,
    )
