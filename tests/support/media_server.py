"""A small threaded HTTP server standing in for YouTube's media hosts in tests.

Serves static files from a root directory on 127.0.0.1 with byte ranges, keep-alive and
per-request knobs in the query string:

* ``rate=<bytes/s>``: throttle the body (data still arrives every ~0.1 s). The rate holds
  for each request, so for each connection: N ranges at once arrive N times as fast.
* ``ranges=0``: ignore Range headers and always answer 200 with the whole file.
* ``status=<code>``: answer that status with an empty body (403, 404, 429, 500, ...).
* ``delay=<seconds>``: wait before answering (timeouts, slow first byte).
* ``fail_after=<bytes>``: drop the connection after sending that many body bytes.

Every request is recorded as a :class:`Hit`, and the body bytes sent for each path are
counted (:meth:`MediaServer.bytes_sent`).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, cast
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

_log = logging.getLogger(__name__)

CONTENT_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".webm": "video/webm",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json",
    ".json3": "application/json; charset=utf-8",
    ".srv1": "text/xml; charset=utf-8",
    ".srv3": "text/xml; charset=utf-8",
    ".ttml": "application/ttml+xml; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)


class RangeNotSatisfiable(ValueError):
    """The requested byte range lies outside the file (HTTP 416)."""


@dataclass(frozen=True)
class Hit:
    """One request as seen by the server; ``status`` is what it answered."""

    method: str
    path: str
    query: dict[str, str]
    range: str | None
    status: int
    at: float = field(default_factory=time.monotonic)
    cookie: str | None = None
    user_agent: str | None = None
    sec_ch_ua: str | None = None  # what browsers (and yt-dlp impersonating one) send


@dataclass(frozen=True)
class _Fault:
    path_substring: str
    status: int


def content_type_for(path: Path) -> str:
    """The Content-Type the server sends for ``path``."""
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) for a single ``bytes=`` range, or None to serve everything.

    Raises RangeNotSatisfiable for ranges that cannot be served (HTTP 416). Malformed and
    multi-range headers are ignored, which RFC 9110 allows.
    """
    if header is None:
        return None
    match = _RANGE_RE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(int(last) if last else size - 1, size - 1)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: MediaServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr; vanished clients are routine here.
        if isinstance(sys.exc_info()[1], _DISCONNECTS):
            _log.debug("client %s went away", client_address)
        else:
            _log.exception("unexpected error while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OfflineMediaServer/1.0"
    # Reaps idle keep-alive connections (and clients that stopped reading) eventually.
    timeout = 60

    @property
    def owner(self) -> MediaServer:
        return cast(_HTTPServer, self.server).owner

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s - " + format, self.address_string(), *args)

    def handle(self) -> None:
        try:
            super().handle()
        except _DISCONNECTS:
            self.close_connection = True

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        range_header = self.headers.get("Range")

        def record(status: int) -> None:
            self.owner._record(
                Hit(
                    self.command,
                    path,
                    query,
                    range_header,
                    int(status),
                    cookie=self.headers.get("Cookie"),
                    user_agent=self.headers.get("User-Agent"),
                    sec_ch_ua=self.headers.get("Sec-Ch-Ua"),
                )
            )

        delay = float(query.get("delay", "0") or 0)
        if delay > 0:
            time.sleep(delay)

        forced = self.owner._take_fault(path)
        if forced is None and query.get("status"):
            forced = int(query["status"])
        if forced is not None:
            record(forced)
            self._empty(forced)
            return

        file = self.owner._resolve(path)
        if file is None:
            record(HTTPStatus.NOT_FOUND)
            self._empty(HTTPStatus.NOT_FOUND)
            return

        size = file.stat().st_size
        try:
            byte_range = parse_range(range_header if query.get("ranges") != "0" else None, size)
        except RangeNotSatisfiable:
            record(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self._empty(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, {"Content-Range": f"bytes */{size}"}
            )
            return

        start, end = byte_range if byte_range is not None else (0, size - 1)
        length = end - start + 1 if size else 0
        status = HTTPStatus.PARTIAL_CONTENT if byte_range is not None else HTTPStatus.OK
        record(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type_for(file))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if byte_range is not None:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body or length == 0:
            return
        rate = int(query.get("rate", "0") or 0)
        fail_after = int(query["fail_after"]) if query.get("fail_after") else None
        with file.open("rb") as handle:
            handle.seek(start)
            self._send_body(handle, length, rate, fail_after, path)

    def _send_body(
        self, handle: BinaryIO, length: int, rate: int, fail_after: int | None, path: str
    ) -> None:
        chunk_size = max(1024, rate // 10) if rate > 0 else 256 * 1024
        started = time.monotonic()
        sent = 0
        try:
            while sent < length:
                if self.owner._stopping.is_set():
                    self.close_connection = True
                    return
                want = min(chunk_size, length - sent)
                if fail_after is not None:
                    want = min(want, fail_after - sent)
                    if want <= 0:
                        self.close_connection = True
                        return
                data = handle.read(want)
                if not data:
                    self.close_connection = True
                    return
                self.wfile.write(data)
                self.owner._count_sent(path, len(data))
                sent += len(data)
                if rate > 0:
                    # Pace against the clock so sleep overshoot does not accumulate.
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
        except _DISCONNECTS:
            self.close_connection = True

    def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()


class MediaServer:
    """Threaded static file server on 127.0.0.1 with ranges, throttling and a hit log."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        self._host = host
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        self._faults: list[_Fault] = []
        self._sent: dict[str, int] = {}
        self._stopping = threading.Event()

    def start(self) -> MediaServer:
        """Bind and start serving in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"MediaServer:{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and abort transfers still in flight."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._httpd is None:
            raise RuntimeError("MediaServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` without a trailing slash."""
        return f"http://{self._host}:{self.port}"

    def url(self, path: str, **query: str | int) -> str:
        """Absolute URL for a root-relative ``path`` plus optional query knobs."""
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.base_url}/{path.lstrip('/')}{suffix}"

    @property
    def hits(self) -> list[Hit]:
        """A copy of all requests recorded so far, oldest first."""
        with self._lock:
            return list(self._hits)

    def hits_for(self, path_substring: str) -> list[Hit]:
        """Recorded requests whose path contains ``path_substring``."""
        return [hit for hit in self.hits if path_substring in hit.path]

    def reset_hits(self) -> None:
        """Forget all recorded requests."""
        with self._lock:
            self._hits.clear()

    def bytes_sent(self, path_substring: str) -> int:
        """Body bytes written so far to clients for paths containing ``path_substring``
        (since the last :meth:`reset_bytes_sent`)."""
        with self._lock:
            return sum(n for path, n in self._sent.items() if path_substring in path)

    def reset_bytes_sent(self) -> None:
        """Start counting sent bytes from zero."""
        with self._lock:
            self._sent.clear()

    def fail_next(self, path_substring: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests for matching paths with ``status``."""
        with self._lock:
            self._faults.extend(_Fault(path_substring, status) for _ in range(times))

    def clear_faults(self) -> None:
        """Drop faults registered with :meth:`fail_next` that have not fired yet."""
        with self._lock:
            self._faults.clear()

    def _count_sent(self, path: str, size: int) -> None:
        with self._lock:
            self._sent[path] = self._sent.get(path, 0) + size

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self._hits.append(hit)

    def _take_fault(self, path: str) -> int | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path_substring in path:
                    del self._faults[index]
                    return fault.status
        return None

    def _resolve(self, url_path: str) -> Path | None:
        parts = [p for p in url_path.split("/") if p]
        if any(p in (".", "..") or "\\" in p for p in parts):
            return None
        candidate = self.root.joinpath(*parts).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate
