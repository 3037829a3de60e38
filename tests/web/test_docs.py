"""The API's docs pages in a real Chromium, offline: Swagger UI and ReDoc come from the
vendored files, render the operations under the page's strict CSP, and reach nothing but
the loopback."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from playwright.sync_api import ConsoleMessage, Page, expect

from app.web import docs
from tests.support.browser import assert_accessible, save_screenshots

if TYPE_CHECKING:
    from tests.support.databases import DatabaseFactory
    from tests.support.fixtures.browser import NewPage

SERVER_START_SECONDS = 30
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/"


def serve_static(app: FastAPI) -> None:
    """The web package mounts /static itself; until then, the docs' tests mount it."""
    if not any(getattr(route, "path", None) == docs.STATIC_URL for route in app.routes):
        app.mount(docs.STATIC_URL, StaticFiles(directory=docs.STATIC_DIR), name="static")


@pytest.fixture(scope="module")
def api_url(db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API on a loopback port, served by uvicorn in a thread of this process."""
    from app.core.config import Settings
    from app.main import create_app

    database_url = db_factory.new("sqlite")
    workdir = tmp_path_factory.mktemp("docs-api")
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=os.environ["REDIS_URL"],
        download_base_path=workdir / "downloads",
        work_dir=workdir / "work",
    )
    app = create_app(settings)
    serve_static(app)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    # Connections wait in the listener's backlog until uvicorn has run the lifespan.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        assert httpx.get(f"{url}/health", timeout=SERVER_START_SECONDS).status_code == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(SERVER_START_SECONDS)
        listener.close()
        db_factory.discard(database_url)


def watch_console(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of the page, as they come."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    return problems


def script_src(policy: str) -> str:
    directives = dict(part.strip().partition(" ")[::2] for part in policy.split(";"))
    return directives["script-src"]


def test_swagger_ui_renders_the_operations_offline_under_a_strict_csp(
    api_url: str, new_page: NewPage
) -> None:
    page = new_page(api_url)
    problems = watch_console(page)
    response = page.goto("/api/docs")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert script_src(policy) == "'self'", policy
    create = page.locator(".opblock-post", has=page.locator('[data-path="/api/v1/downloads"]'))
    expect(create).to_be_visible()
    expect(create.locator(".opblock-summary-method")).to_have_text("POST")
    expect(page.get_by_role("heading", name="YouTube Download Service")).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    save_screenshots(page, "api-docs")
    assert page.blocked_requests == []  # type: ignore[attr-defined]
    assert problems == []
    assert_accessible(page, "api-docs")


def test_an_operation_opens_with_its_parameters(api_url: str, new_page: NewPage) -> None:
    page = new_page(api_url)
    problems = watch_console(page)
    page.goto("/api/docs")
    page.locator('.opblock-get [data-path="/api/v1/downloads/{job_id}"]').click()
    expect(page.locator(".opblock.is-open")).to_contain_text("job_id")
    assert page.blocked_requests == []  # type: ignore[attr-defined]
    assert problems == []


def test_redoc_renders_the_reference_offline_under_a_strict_csp(
    api_url: str, new_page: NewPage
) -> None:
    page = new_page(api_url)
    problems = watch_console(page)
    response = page.goto("/api/redoc")
    assert response is not None and response.status == 200
    assert script_src(response.headers["content-security-policy"]) == "'self'"
    expect(page.get_by_role("heading", name="YouTube Download Service (0.1.0)")).to_be_visible()
    page.get_by_role("link", name="post /api/v1/downloads", exact=True).click()
    expect(
        page.get_by_role("heading", name="Queue a video, playlist or channel download")
    ).to_be_visible()
    save_screenshots(page, "api-redoc")
    assert page.blocked_requests == []  # type: ignore[attr-defined]
    # ReDoc's sidebar always shows Redocly's logo from its CDN; the page's img-src stops it
    # before any request is made (and ReDoc then hides the image). Nothing else may fail.
    assert [p for p in problems if REDOC_CDN_LOGO not in p] == []


@pytest.fixture
async def docs_only_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The docs pages alone, with no vendored file on disk."""
    monkeypatch.setattr(docs, "STATIC_DIR", tmp_path)
    app = FastAPI(title="YouTube Download Service")
    app.include_router(docs.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
async def test_without_the_vendored_files_the_page_says_how_to_fetch_them(
    docs_only_client: httpx.AsyncClient, path: str
) -> None:
    response = await docs_only_client.get(path)
    assert response.status_code == 503
    assert "make web-assets" in response.text
    assert "/api/openapi.json" in response.text
    assert script_src(response.headers["content-security-policy"]) == "'self'"


def test_async_fixtures_and_the_browser_share_a_test(
    docs_only_client: httpx.AsyncClient, new_page: NewPage
) -> None:
    """pytest-asyncio sets up and tears down an async fixture around sync Playwright calls."""
    page = new_page()
    page.set_content("<main><h1>Offline</h1></main>")
    expect(page.get_by_role("heading", name="Offline")).to_be_visible()


def test_an_offline_page_records_what_it_could_not_reach(new_page: NewPage) -> None:
    page = new_page()
    page.set_content("<main><h1>Offline</h1></main>")
    outcome = page.evaluate(
        """async () => {
            const socket = new WebSocket("wss://cdn.example.invalid/socket");
            const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
            try { await fetch("https://cdn.example.invalid/lib.js"); return "fetched"; }
            catch { await closed; return "refused"; }
        }"""
    )
    assert outcome == "refused"
    assert sorted(page.blocked_requests) == [  # type: ignore[attr-defined]
        "https://cdn.example.invalid/lib.js",
        "wss://cdn.example.invalid/socket",
    ]
