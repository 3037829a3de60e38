"""The PO-token provider: the doctor's status of it, and yt-dlp's bgutil plugin finding it at
YTDLP_POT_PROVIDER_URL on loopback while the egress guard refuses loopback to everything else."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.downloads.engine.guard import guarded_ydl
from app.downloads.engine.options import build_ydl_params
from app.downloads.exceptions import JobFailure
from app.downloads.schemas import JobOptions
from app.youtube.potoken import provider_status, with_provider
from tests.support.services import free_port

VERSION = "2.0.2"


class FakeProvider(ThreadingHTTPServer):
    """Answers like bgutil's HTTP server: GET /ping with its version; counts the pings."""

    daemon_threads = True

    def __init__(self, status: int = 200, body: bytes | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.body = body or json.dumps({"version": VERSION, "server_uptime": 5}).encode()
        self.pings = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeProvider

    def do_GET(self) -> None:
        if self.path == "/ping":
            self.server.pings += 1
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *_args: Any) -> None:
        pass


def serving(server: FakeProvider) -> Iterator[FakeProvider]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    yield from serving(FakeProvider())


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, ytdlp_pot_provider_url=url)


async def test_a_running_provider_is_reachable_with_its_version(provider: FakeProvider) -> None:
    status = await provider_status(settings_for(provider.url), timeout=5)
    assert (status.configured, status.reachable, status.version, status.error) == (
        True,
        True,
        VERSION,
        None,
    )
    assert provider.pings == 1


async def test_an_unreachable_or_wrong_provider_is_reported() -> None:
    closed = await provider_status(settings_for(f"http://127.0.0.1:{free_port()}"), timeout=2)
    assert closed.configured and not closed.reachable and closed.version is None
    assert closed.error is not None and "did not answer (ConnectError)" in closed.error
    for server, says in (
        (FakeProvider(status=500), "answered HTTP 500"),
        (FakeProvider(body=b"<html>a web page</html>"), "did not answer with the provider's"),
    ):
        for running in serving(server):
            status = await provider_status(settings_for(running.url), timeout=5)
            assert not status.reachable and status.error is not None and says in status.error


async def test_no_provider_configured_is_not_an_error() -> None:
    status = await provider_status(Settings(_env_file=None), timeout=1)
    assert (status.configured, status.reachable, status.error) == (False, False, None)


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:4416", "ftp://127.0.0.1:4416", "http://127.0.0.1", "http://h:4416/path",
     "http://user:pw@h:4416"],
)  # fmt: skip
def test_the_provider_url_must_be_a_plain_http_origin_with_a_port(url: str) -> None:
    with pytest.raises(ValidationError, match="YTDLP_POT_PROVIDER_URL"):
        settings_for(url)
    assert settings_for("http://pot-provider:4416/").ytdlp_pot_provider_url == (
        "http://pot-provider:4416"
    )


def test_yt_dlps_plugin_reaches_the_provider_past_the_guard_which_still_refuses_loopback(
    provider: FakeProvider,
) -> None:
    from yt_dlp.extractor.youtube.pot._director import initialize_pot_director

    settings = settings_for(provider.url)  # private networks refused, as by default
    given = {"youtube": {"x": ["y"]}, "youtubepot-bgutilhttp": {"z": ["1"]}}
    params = with_provider({"quiet": True, "extractor_args": given}, settings)
    assert params["extractor_args"] == {
        "youtube": {"x": ["y"]},
        "youtubepot-bgutilhttp": {"z": ["1"], "base_url": [provider.url]},
    }, "other arguments are kept"
    with pytest.raises(JobFailure) as refused, guarded_ydl(params, settings) as ydl:
        director = initialize_pot_director(ydl.get_info_extractor("Youtube"))
        [bgutil] = [p for p in director.providers.values() if p.PROVIDER_NAME == "bgutil:http"]
        assert bgutil._base_url == provider.url
        assert bgutil._check_server_availability(None) is True
        assert provider.pings == 1
        # The same address through yt-dlp's ordinary requests: refused by the guard.
        ydl.urlopen(f"{provider.url}/ping")
    assert refused.value.code == "forbidden_address"
    assert provider.pings == 1


def test_downloads_name_the_provider_only_when_one_is_configured(tmp_path: Path) -> None:
    def params(settings: Settings) -> dict[str, Any]:
        options = JobOptions.model_validate({})
        log = logging.getLogger("test")
        return build_ydl_params(options, workdir=tmp_path, settings=settings, logger_=log)

    named = params(settings_for("http://127.0.0.1:4416"))
    assert named["extractor_args"] == {
        "youtubepot-bgutilhttp": {"base_url": ["http://127.0.0.1:4416"]}
    }
    assert "extractor_args" not in params(Settings(_env_file=None))
