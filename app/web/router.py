"""The web UI: one page shell for every UI path, its static files and its web app manifest.

The UI is a no-build set of ES modules under `static/app/` that talk to the same API as
every client. Nothing is rendered from data on the server: the shell is the same bytes for
every path, so no title or transcript text can reach the HTML unescaped. Every response
here carries the UI's Content-Security-Policy (no inline script, scripts only from this
origin); API responses keep the API's own (`default-src 'none'`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response as StarletteResponse
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
SHELL = STATIC_DIR / "index.html"

# Thumbnails come from YouTube's image hosts (https); media and transcripts from this origin.
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "media-src 'self'; connect-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
UI_HEADERS = {"Content-Security-Policy": UI_CSP, "Cache-Control": "no-cache"}

# The UI's paths (the page modules in static/app/pages read the rest from the URL).
PAGES = (
    "/",
    "/signin",
    "/submit",
    "/share",
    "/library",
    "/stats",
    "/admin",
    "/subscriptions",
    "/recovery",
)

router = APIRouter(include_in_schema=False)


def _shell() -> Response:
    return FileResponse(SHELL, media_type="text/html; charset=utf-8", headers=UI_HEADERS)


for _path in PAGES:
    router.add_api_route(_path, _shell, methods=["GET"])


@router.get("/jobs/{job_id}")
async def job_page(job_id: str) -> Response:
    """A job's page: the shell, which reads the id from the URL (never echoed here)."""
    del job_id
    return _shell()


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    return FileResponse(
        STATIC_DIR / "manifest.webmanifest",
        media_type="application/manifest+json",
        headers=UI_HEADERS,
    )


class UiStaticFiles(StaticFiles):
    """Static files with the UI's CSP (a script or style served here is still ours)."""

    async def get_response(self, path: str, scope: Scope) -> StarletteResponse:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Content-Security-Policy", UI_CSP)
        return response


def install(app: FastAPI) -> None:
    """Serves the UI's pages and `/static` on `app`."""
    app.include_router(router)
    app.mount("/static", UiStaticFiles(directory=STATIC_DIR), name="static")
