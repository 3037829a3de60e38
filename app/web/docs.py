"""The API's reference pages, Swagger UI at /api/docs and ReDoc at /api/redoc, built from
the vendored files (`make web-assets`): no CDN, and no inline script, so each page runs
under a strict Content-Security-Policy of its own."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static"
OPENAPI_URL = "/api/openapi.json"
# ReDoc's search runs in a Web Worker it builds from a blob: URL; its styled components
# write <style> elements, hence 'unsafe-inline' for styles only. Scripts stay 'self'.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SWAGGER_FILES = ("swagger-ui-dist/swagger-ui.css", "swagger-ui-dist/swagger-ui-bundle.js")
REDOC_FILES = ("redoc/bundles/redoc.standalone.js",)

router = APIRouter()


def _page(*, title: str, head: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
{head}
</head>
<body>
{body}
</body>
</html>
"""
    return HTMLResponse(
        html, status_code=status_code, headers={"Content-Security-Policy": DOCS_CSP}
    )


def _missing_assets(title: str, files: tuple[str, ...]) -> HTMLResponse | None:
    """A page that says how to fetch the vendored files, when some are not on disk."""
    missing = [name for name in files if not (STATIC_DIR / "vendor" / name).is_file()]
    if not missing:
        return None
    items = "".join(f"<li><code>static/vendor/{escape(name)}</code></li>" for name in missing)
    body = (
        f"<main><h1>{escape(title)}</h1>"
        "<p>This page needs web assets that have not been fetched yet:</p>"
        f"<ul>{items}</ul>"
        "<p>Run <code>make web-assets</code> (or <code>python -m app.web.vendor</code>) "
        "in the service's checkout, then reload this page. The machine-readable "
        f'description is still at <a href="{OPENAPI_URL}">{OPENAPI_URL}</a>.</p></main>'
    )
    return _page(title=title, head="", body=body, status_code=503)


@router.get("/api/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    title = f"{request.app.title} - API docs"
    missing = _missing_assets(title, SWAGGER_FILES)
    if missing is not None:
        return missing
    head = (
        f'<link rel="stylesheet" href="{STATIC_URL}/vendor/swagger-ui-dist/swagger-ui.css">\n'
        f'<link rel="stylesheet" href="{STATIC_URL}/docs/docs.css">\n'
        f'<script defer src="{STATIC_URL}/vendor/swagger-ui-dist/swagger-ui-bundle.js">'
        "</script>\n"
        f'<script defer src="{STATIC_URL}/docs/swagger-init.js"></script>'
    )
    # Swagger UI writes the page's heading (the API's title) itself.
    body = f'<div id="swagger-ui" data-openapi-url="{OPENAPI_URL}"></div>'
    return _page(title=title, head=head, body=body)


@router.get("/api/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    title = f"{request.app.title} - API reference"
    missing = _missing_assets(title, REDOC_FILES)
    if missing is not None:
        return missing
    head = (
        f'<link rel="stylesheet" href="{STATIC_URL}/docs/docs.css">\n'
        # ReDoc 3 is an ES module: the init script imports it (modules load deferred)
        f'<script type="module" src="{STATIC_URL}/docs/redoc-init.js"></script>'
    )
    body = f'<div id="redoc" data-openapi-url="{OPENAPI_URL}"></div>'
    return _page(title=title, head=head, body=body)
