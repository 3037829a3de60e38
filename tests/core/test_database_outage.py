"""How a real API process reports a database outage: each refused request is a 503 with
the stable code and one log line, each refused WebSocket a 1013 close, never a traceback."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.constants import TEST_REDIS_DB
from tests.support.databases import DatabaseFactory
from tests.support.factories import issue_key
from tests.support.fixtures.services import session_services
from tests.support.stack import ManagedProcess, start_api
from tests.support.tcp_forwarder import TcpForwarder

pytestmark = pytest.mark.e2e
REFUSED_REQUESTS = 20
REFUSED_SOCKETS = 10
VIDEO_URL = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"


@pytest.fixture
def database_link(db_factory: DatabaseFactory) -> Iterator[tuple[str, str, TcpForwarder]]:
    """A PostgreSQL database, and its URL through a link the test can pull out."""
    url = db_factory.postgres()
    parts = urlsplit(url)
    link = TcpForwarder((parts.hostname or "127.0.0.1", parts.port or 5432), rate=1 << 30)
    link.start()
    linked = url.replace(parts.netloc.rsplit("@", 1)[-1], f"127.0.0.1:{link.port}", 1)
    yield url, linked, link
    link.stop()
    db_factory.discard(url)


@pytest.fixture
def api_through_link(
    database_link: tuple[str, str, TcpForwarder], tmp_path: Path
) -> Iterator[tuple[ManagedProcess, str]]:
    _, linked, _ = database_link
    env = {
        **os.environ,
        "DATABASE_URL": linked,
        "REDIS_URL": f"{session_services().redis_url}/{TEST_REDIS_DB}",  # no worker to share with
        "DOWNLOAD_BASE_PATH": str(tmp_path / "downloads"),
        "WORK_DIR": str(tmp_path / "work"),
    }
    api, base_url = start_api(env, tmp_path)
    yield api, base_url
    api.stop()


def outage_log(api: ManagedProcess, *, lines: int) -> str:
    """The API's log once it holds `lines` outage lines (they are written as it answers)."""
    deadline = time.monotonic() + 30
    while api.log().count("database unavailable") < lines:
        assert time.monotonic() < deadline, api.log()[-4000:]
        time.sleep(0.1)  # polling a log file; nothing to wait on
    return api.log()


def test_a_database_outage_logs_one_line_per_refused_request_and_no_traceback(
    database_link: tuple[str, str, TcpForwarder], api_through_link: tuple[ManagedProcess, str]
) -> None:
    direct, _, link = database_link
    api, base_url = api_through_link
    headers = {"X-API-Key": issue_key(direct, "outage")}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        assert http.get("/api/v1/downloads").status_code == 200  # pooled connections exist
        link.stop()  # every open connection reset, new ones refused
        for _ in range(REFUSED_REQUESTS):
            response = http.get("/api/v1/downloads")
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_unavailable"
            assert response.headers["Retry-After"]

    log = outage_log(api, lines=REFUSED_REQUESTS)
    assert "Traceback" not in log, log[-4000:]
    outage_lines = [line for line in log.splitlines() if "database unavailable" in line]
    assert len(outage_lines) == REFUSED_REQUESTS, log[-4000:]


def test_a_websocket_opened_during_an_outage_closes_with_1013_and_one_log_line(
    database_link: tuple[str, str, TcpForwarder], api_through_link: tuple[ManagedProcess, str]
) -> None:
    direct, _, link = database_link
    api, base_url = api_through_link
    key = issue_key(direct, "outage-sockets")
    with httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=30) as http:
        job_id = http.post("/api/v1/downloads", json={"url": VIDEO_URL}).json()["job_id"]
    link.stop()
    url = f"{base_url.replace('http', 'ws', 1)}/ws/progress/{job_id}"
    for _ in range(REFUSED_SOCKETS):
        with (
            connect(url, additional_headers={"X-API-Key": key}, open_timeout=30) as socket,
            pytest.raises(ConnectionClosed) as closed,
        ):
            socket.recv(timeout=30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013
        assert closed.value.rcvd.reason == "database unavailable; reconnect in 5 s"

    log = outage_log(api, lines=REFUSED_SOCKETS)
    assert "Traceback" not in log, log[-4000:]
