"""A forward proxy that answers every request as YouTube answers an address it distrusts:
with its bot-check page, or with HTTP 429. It plays the blocked route of YTDLP_PROXIES."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

HOST = "127.0.0.1"
BOT_CHECK_PAGE = (
    "<!DOCTYPE html><html><body><div id='player'>"
    "Sign in to confirm you\u2019re not a bot</div></body></html>"
).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int) -> None:
        super().__init__((HOST, 0), _Handler)
        self.status = status
        self.lock = threading.Lock()
        self.lines: list[str] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets from a stopped egress proxy are expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = cast(_Server, self.server)
        with owner.lock:
            owner.lines.append(self.requestline)
        body = BOT_CHECK_PAGE if owner.status == 200 else b"Too Many Requests"
        self.send_response(owner.status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_CONNECT = do_GET


class BlockingProxy:
    """``status`` 200 answers the bot-check page, 429 answers Too Many Requests."""

    def __init__(self, *, status: int = 200) -> None:
        self._server = _Server(status)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> BlockingProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def lines(self) -> list[str]:
        """The request lines it answered, in order."""
        with self._server.lock:
            return list(self._server.lines)
