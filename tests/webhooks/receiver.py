"""A webhook receiver on loopback for the tests, and the signature check the README shows."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """The README's receiver check, verbatim: True when X-YDS-Signature `header` signs the
    raw request `body` with `secret` and is at most `tolerance` seconds old."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False  # too old (or from the future): refuse replays
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, host: str, statuses: Sequence[int], delay: float, tls: ssl.SSLContext | None
    ) -> None:
        super().__init__((host, 0), _Handler)
        self.statuses = list(statuses)
        self.delay = delay
        self.received: list[Received] = []
        self.server_names: list[str | None] = []  # the SNI of each TLS handshake
        self.changed = threading.Condition()
        if tls is not None:
            tls.sni_callback = self._record_server_name
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def _record_server_name(
        self, _connection: ssl.SSLObject, name: str | None, _context: ssl.SSLContext
    ) -> None:
        self.server_names.append(name)

    def record(self, request: Received) -> int:
        with self.changed:
            self.received.append(request)
            self.changed.notify_all()
            index = min(len(self.received), len(self.statuses)) - 1
            return self.statuses[index]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status = self.server.record(Received("POST", self.path, headers, body))
        time.sleep(self.server.delay)
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class Receiver:
    """Records every POST and answers with `statuses` in turn (the last one repeats)."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def server_names(self) -> list[str | None]:
        return list(self._server.server_names)

    @property
    def received(self) -> list[Received]:
        with self._server.changed:
            return list(self._server.received)

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        with self._server.changed:
            if not self._server.changed.wait_for(
                lambda: len(self._server.received) >= count, timeout
            ):
                raise TimeoutError(f"{count} requests expected, got {self._server.received}")
            return list(self._server.received)

    async def received_at_least(self, count: int, within: float = 60) -> list[Received]:
        return await anyio.to_thread.run_sync(self.wait_for, count, within)


@contextmanager
def receiver(
    statuses: Sequence[int] = (200,),
    *,
    host: str = "127.0.0.1",
    delay: float = 0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Receiver]:
    server = _Server(host, statuses, delay, tls)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Receiver(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
