"""The doctor as an operator meets it: one admin request (or `yds doctor`) names each
broken component with a fix in this service's own settings, and never hangs."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr

from app.core.config import Settings
from app.core.database import create_sync_engine, sync_sessionmaker
from app.jobs.models import JobStatus
from app.main import create_app
from app.youtube import routes
from app.youtube.doctor import CHECK_TIMEOUT_SECONDS
from tests.cli.test_client import yds
from tests.support.databases import DatabaseFactory
from tests.support.factories import KeyFactory, create_job, create_key
from tests.support.faults import silent_server
from tests.support.offline_youtube import OfflineYouTube
from tests.support.stack import running_stack
from tests.youtube.cookie_files import IN_A_YEAR, cookie, netscape

DOCTOR = "/api/v1/admin/doctor"


class _Provider(BaseHTTPRequestHandler):
    """Answers /ping as the PO-token provider's HTTP server does."""

    def do_GET(self) -> None:
        body = json.dumps({"server_uptime": 12.5, "version": "1.2.2"}).encode()
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def no_resting_routes() -> None:
    """The run's Redis outlives each test: a port an earlier test rested as a route can come
    back as this test's proxy, and must not carry that rest over."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter(match=f"{routes.KEY_PREFIX}*"):
        client.delete(key)


@pytest.fixture
def provider_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def listener() -> Iterator[str]:
    """A port that takes connections: a reachable proxy, as far as a TCP check can tell."""
    server = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.fixture
def closed_port() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A provider that accepts connections and never answers."""
    with silent_server() as port:
        yield f"http://127.0.0.1:{port}"


def cookie_file(directory: Path, *, expires: int) -> Path:
    """A signed-in browser's export: YouTube's sign-in cookies beside others."""
    path = directory / "cookies.txt"
    path.write_bytes(
        netscape(
            cookie(name="__Secure-3PSID", expires=expires, http_only=True),
            cookie(name="SID", expires=expires),
            cookie(name="PREF", expires=IN_A_YEAR, value="f6=40000000"),
        )
    )
    return path


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


async def ask(client: httpx.AsyncClient, key: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    response = await client.get(DOCTOR, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return response.json(), time.monotonic() - started


async def doctor_of(settings: Settings, key: str) -> tuple[dict[str, Any], float]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await ask(client, key)


@pytest.fixture
def admin(make_key: KeyFactory) -> str:
    return make_key("doctor-admin", ["admin"])


async def test_a_healthy_setup_passes_and_says_what_is_merely_off(
    settings: Settings, admin: str, provider_url: str, listener: str, tmp_path: Path
) -> None:
    healthy = settings.model_copy(
        update={
            "ytdlp_pot_provider_url": provider_url,
            "ytdlp_proxies": (SecretStr(listener),),
            "ytdlp_impersonate": "chrome",
            "ytdlp_cookies_file": cookie_file(tmp_path, expires=IN_A_YEAR),
        }
    )
    report, elapsed = await doctor_of(healthy, admin)
    checks = by_name(report)
    assert report["status"] == "ok", report
    route = f"route:{listener}"
    assert list(checks) == ["js_runtime", "yt_dlp", "yt_dlp_update", "impersonation",
                            "po_token_provider", "cookies", route, "youtube_pause"]  # fmt: skip
    for name in ("js_runtime", "impersonation", "po_token_provider", "cookies", route):
        assert checks[name]["status"] == "ok", checks[name]
    assert "runs the EJS solver" in checks["js_runtime"]["detail"]
    # No worker ran: the checks that belong to a worker's host say where they ran instead.
    assert "checked in the API process" in checks["js_runtime"]["detail"]
    assert checks["po_token_provider"]["facts"]["version"] == "1.2.2"
    assert checks["cookies"]["facts"]["auth_cookies"] == 2
    assert checks["yt_dlp_update"]["status"] == "off"
    assert "YTDLP_UPDATE=stable" in checks["yt_dlp_update"]["fix"]
    assert report["recent_failures"] == []
    assert elapsed < 2 * CHECK_TIMEOUT_SECONDS, "the report never hangs"


async def test_each_broken_component_fails_with_a_fix_in_the_services_words(
    settings: Settings, admin: str, closed_port: str, listener: str, tmp_path: Path
) -> None:
    expired = int(time.time()) - 86400
    resting = listener
    broken = settings.model_copy(
        update={
            "ytdlp_js_runtimes": ("deno:/nowhere/deno",),
            "ytdlp_pot_provider_url": closed_port,
            "ytdlp_proxies": (SecretStr(resting), SecretStr(closed_port)),
            "ytdlp_cookies_file": cookie_file(tmp_path, expires=expired),
        }
    )
    client = redis.Redis.from_url(settings.redis_url)
    first = routes.routes(broken)[0]
    routes.rest(client, first, cooldown_seconds=120, reason="Sign in to confirm you're not a bot")
    report, elapsed = await doctor_of(broken, admin)
    checks = by_name(report)
    assert report["status"] == "fail"

    runtime = checks["js_runtime"]
    assert runtime["status"] == "fail" and "deno:/nowhere/deno" in runtime["detail"]
    assert "YTDLP_JS_RUNTIMES" in runtime["fix"]
    provider = checks["po_token_provider"]
    assert provider["status"] == "fail" and "did not answer" in provider["detail"]
    assert "YTDLP_POT_PROVIDER_URL" in provider["fix"]
    cookies = checks["cookies"]
    assert cookies["status"] == "fail" and "expired" in cookies["detail"]
    assert "yds cookies upload" in cookies["fix"]
    rests = checks[f"route:{resting}"]
    assert rests["status"] == "warn" and rests["facts"]["resting"] is True
    assert 0 < rests["facts"]["retry_in_seconds"] <= 120
    down = checks[f"route:{closed_port}"]
    assert down["status"] == "fail" and "YTDLP_PROXIES" in down["fix"]
    # One route still carries the work: no global pause.
    assert checks["youtube_pause"]["status"] == "ok", checks["youtube_pause"]
    for check in report["checks"]:
        text = f"{check['detail']} {check['fix'] or ''}"
        assert "--cookies" not in text and "--proxy" not in text, check
    assert elapsed < 2 * CHECK_TIMEOUT_SECONDS, "the report never hangs"


async def test_every_route_resting_is_the_global_pause(
    settings: Settings, admin: str, listener: str
) -> None:
    one_route = settings.model_copy(update={"ytdlp_proxies": (SecretStr(listener),)})
    routes.rest(redis.Redis.from_url(settings.redis_url), routes.routes(one_route)[0],
                cooldown_seconds=60, reason="HTTP Error 429: Too Many Requests")  # fmt: skip
    report, _ = await doctor_of(one_route, admin)
    pause = by_name(report)["youtube_pause"]
    assert pause["status"] == "fail" and "every route rests" in pause["detail"]
    assert 0 < pause["facts"]["retry_in_seconds"] <= 60


async def test_a_hung_provider_costs_one_check_not_the_report(
    settings: Settings, admin: str, black_hole: str
) -> None:
    hung = settings.model_copy(update={"ytdlp_pot_provider_url": black_hole})
    report, elapsed = await doctor_of(hung, admin)
    assert by_name(report)["po_token_provider"]["status"] == "fail"
    assert by_name(report)["js_runtime"]["status"] == "ok"
    assert elapsed < 2 * CHECK_TIMEOUT_SECONDS, "the report never hangs"


async def test_the_last_youtube_failures_are_grouped_by_code_with_a_hint(
    settings: Settings, admin: str, database_url: str
) -> None:
    sessions = sync_sessionmaker(create_sync_engine(database_url))
    bot = "YouTube asked to confirm this is not a bot."
    for n in range(3):
        create_job(sessions, url=f"https://www.youtube.com/watch?v=aaaaaaaaaa{n}",
                   status=JobStatus.FAILED, error_code="throttled", error_message=bot)  # fmt: skip
    create_job(sessions, url="https://youtu.be/bbbbbbbbbbb", status=JobStatus.QUEUED,
               error_code="geo_restricted", error_message="Not in your country.")  # fmt: skip
    create_job(sessions, url="https://vimeo.com/1", status=JobStatus.FAILED,
               error_code="download_failed", error_message="not YouTube")  # fmt: skip
    report, _ = await doctor_of(settings, admin)
    groups = {group["code"]: group for group in report["recent_failures"]}
    assert set(groups) == {"throttled", "geo_restricted"}
    assert groups["throttled"]["count"] == 3 and groups["throttled"]["last_message"] == bot
    assert "bot check" in groups["throttled"]["hint"]
    assert "YTDLP_PROXIES" in groups["geo_restricted"]["hint"]


async def test_only_admins_may_ask(settings: Settings, make_key: KeyFactory) -> None:
    reader = make_key("reader", ["downloads:read", "downloads:write"])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(DOCTOR, headers={"X-API-Key": reader})
            anonymous = await client.get(DOCTOR)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert anonymous.status_code == 401


def test_yds_doctor_reads_the_workers_reports_and_exits_7_on_a_failure(
    db_factory: DatabaseFactory, offline_youtube: OfflineYouTube, tmp_path: Path,
    closed_port: str,
) -> None:  # fmt: skip
    # The provider is configured on the worker only, as compose and ECS do; nothing answers.
    with running_stack(
        database_url=db_factory.sqlite(), youtube=offline_youtube, base_dir=tmp_path,
        extra={"YTDLP_POT_PROVIDER_URL": closed_port},
    ) as stack:  # fmt: skip
        key = create_key(stack.database_url, "doctor", scopes=["admin"]).secret
        deadline = time.monotonic() + 60
        while True:  # the worker's first report comes once it is ready
            found = yds(stack, key, "doctor", "--json")
            report = json.loads(found.stdout)
            if "on every worker" in by_name(report)["js_runtime"]["detail"]:
                break
            assert time.monotonic() < deadline, report
            time.sleep(0.5)
        human = yds(stack, key, "doctor")
    provider = by_name(report)["po_token_provider"]
    assert found.returncode == 7 and human.returncode == 7, human.stderr
    assert provider["status"] == "fail" and "(on every worker)" in provider["detail"]
    assert list(provider["facts"]["workers"].values()) == ["fail"]
    assert "FAIL  po_token_provider" in human.stdout
    assert "fix: Start the provider beside the worker, or correct YTDLP_POT_PROVIDER_URL." in (
        human.stdout
    )
    assert "ok    js_runtime  deno" in human.stdout
    assert "Overall: FAIL" in human.stdout
