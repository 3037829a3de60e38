"""The API process (`python -m app.serve`, real uvicorn) closes a connection whose request
head does not arrive in REQUEST_HEAD_TIMEOUT_SECONDS, and serves the ones that do; its
WebSocket express lane writes the frames websockets would."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from websockets.frames import Frame, Opcode

from app.api.protocol import text_frame
from tests.support.databases import DatabaseFactory
from tests.support.stack import start_api

HEAD_TIMEOUT = 2.0
# How late the close may come on a loaded machine; the head would otherwise wait forever.
SLACK = 4.0


@pytest.fixture(scope="module")
def api_address(
    db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    base = tmp_path_factory.mktemp("head-timeout")
    env = {
        **os.environ,
        "DATABASE_URL": db_factory.sqlite(),
        "DOWNLOAD_BASE_PATH": str(base / "downloads"),
        "WORK_DIR": str(base / "work"),
        "REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
    }
    api, base_url = start_api(env, base)
    try:
        parts = urlsplit(base_url)
        assert parts.hostname and parts.port
        yield parts.hostname, parts.port
    finally:
        api.stop()


def seconds_until_closed(sock: socket.socket) -> float:
    """How long until the server closes the connection (reads return b"")."""
    started = time.monotonic()
    sock.settimeout(HEAD_TIMEOUT + SLACK + 5)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


@pytest.mark.parametrize(
    "partial_head",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"GET /health HT", id="half-a-request-line"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: localhost\r\n", id="headers-unfinished"),
    ],
)
def test_a_request_head_that_does_not_arrive_in_time_is_closed(
    api_address: tuple[str, int], partial_head: bytes
) -> None:
    with socket.create_connection(api_address, timeout=5) as sock:
        sock.sendall(partial_head)
        closed_after = seconds_until_closed(sock)
    assert HEAD_TIMEOUT - 0.5 <= closed_after <= HEAD_TIMEOUT + SLACK


def test_a_slow_head_is_cut_at_the_deadline_not_at_each_pause(
    api_address: tuple[str, int],
) -> None:
    """A client trickling one header line at a time still has one deadline for the head."""
    with socket.create_connection(api_address, timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        deadline = started + HEAD_TIMEOUT + SLACK + 5
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.5)
            try:
                closed = sock.recv(4096) == b""
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
        assert closed, "the trickled head was never closed"
        assert time.monotonic() - started <= HEAD_TIMEOUT + SLACK


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (head and Content-Length body): uvicorn writes the head and
    the body separately, and on a loaded machine they arrive in separate reads."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"the connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, f"the connection closed after {data + body!r}"
        body += chunk
    assert len(body) == length, "more bytes than the response's length"
    return head + b"\r\n\r\n" + body


def test_complete_requests_on_one_connection_are_served(api_address: tuple[str, int]) -> None:
    """The deadline covers each head, not the connection's life: a kept-alive connection
    serves a second request made after the first head's deadline would have passed."""
    request = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection(api_address, timeout=10) as sock:
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        # Within the keep-alive but past the first head's deadline.
        time.sleep(HEAD_TIMEOUT + 0.5)
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_a_kept_alive_connection_idle_past_five_seconds_still_serves(
    api_address: tuple[str, int],
) -> None:
    """uvicorn alone closes an idle connection after 5 s: a client or proxy that reuses it
    just then gets a reset (a load balancer answers 502). API_KEEP_ALIVE_SECONDS keeps it."""
    request = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection(api_address, timeout=10) as sock:
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # the idle time is what is tested
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 200_000])
def test_the_express_lane_frames_text_exactly_as_websockets_does(size: int) -> None:
    """The frames progress events take to thousands of sockets at once are the bytes the
    websockets library would have written for the same message."""
    payload = b"x" * size
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected
