"""The egress proxy with real yt-dlp: every hop is checked, and allowed traffic flows intact.

127.0.0.2 plays the public internet (allowed through ``allowed_cidrs``); 127.0.0.1 plays the
internal network (metadata endpoints, admin ports), and counts every connection it gets.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yt_dlp
from yt_dlp.networking import Request
from yt_dlp.networking.exceptions import HTTPError, ProxyError
from yt_dlp.utils import DownloadError

from app.security.addresses import AddressPolicy
from app.security.egress import MAX_HEAD_SIZE, EgressProxy, Refusal
from tests.support.media_server import MediaServer

PUBLIC_HOST = "127.0.0.2"
INTERNAL_HOST = "127.0.0.1"
POLICY = AddressPolicy(allowed_cidrs=(ipaddress.ip_network(f"{PUBLIC_HOST}/32"),))
CLIP = random.Random(1).randbytes(300_000)
BIG = random.Random(2).randbytes(2_000_000)
# yt-dlp picks the requests handler by default; this compat option makes it prefer urllib.
HANDLER_OPTIONS = {"requests": [], "urllib": ["prefer-legacy-http-handler"]}


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _SiteHandler)
        self.lock = threading.Lock()
        self.connections = 0
        self.paths: list[str] = []

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)


class _SiteHandler(BaseHTTPRequestHandler):
    """``/redirect?to=URL`` answers 302, ``/echo`` returns the POST body, ``/headers``
    describes the request, and anything else is an internal secret."""

    @property
    def site(self) -> _SiteServer:
        return cast(_SiteServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        with self.site.lock:
            self.site.paths.append(url.path)
        if url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(url.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/headers":
            self._reply(json.dumps({"line": self.requestline, "headers": self.headers.items()}))
        else:
            self._reply("internal secret")

    def do_POST(self) -> None:
        with self.site.lock:
            self.site.paths.append(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(body)

    def _reply(self, body: str | bytes) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Site:
    def __init__(self, host: str, port: int = 0) -> None:
        self.server = _SiteServer((host, port))
        self.host = host
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, **query: str) -> str:
        suffix = f"?{urlencode(query)}" if query else ""
        return f"http://{self.host}:{self.port}{path}{suffix}"

    @property
    def connections(self) -> int:
        with self.server.lock:
            return self.server.connections

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class _Recorder:
    """A one-connection server on the public address that keeps every byte it receives.

    Once a request head and its declared body have arrived it answers with a response that
    claims keep-alive, ends its side, and reads on until the proxy closes the connection.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server((PUBLIC_HOST, 0))
        self._listener.settimeout(5)
        self.url = f"http://{PUBLIC_HOST}:{self._listener.getsockname()[1]}"
        self._bytes = b""
        self._arrived = threading.Condition()
        self._done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def received(self) -> bytes:
        assert self._done.wait(5)
        return self._bytes

    def wait_for(self, ending: bytes) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: self._bytes.endswith(ending), timeout=5)

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(5)
            answered = False
            while chunk := connection.recv(65536):
                with self._arrived:
                    self._bytes += chunk
                    self._arrived.notify_all()
                if not answered and self._request_complete():
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
                        b"Keep-Alive: timeout=60\r\nContent-Length: 2\r\n\r\nok"
                    )
                    connection.shutdown(socket.SHUT_WR)
                    answered = True
        self._done.set()

    def _request_complete(self) -> bool:
        head, found, body = self._bytes.partition(b"\r\n\r\n")
        declared = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        return bool(found) and len(body) >= (int(declared.group(1)) if declared else 0)


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    yield server
    server.close()


@pytest.fixture
def proxy() -> Iterator[EgressProxy]:
    with EgressProxy(POLICY) as running:
        yield running


@pytest.fixture
def internal() -> Iterator[_Site]:
    site = _Site(INTERNAL_HOST)
    yield site
    site.close()


@pytest.fixture
def public(internal: _Site) -> Iterator[_Site]:
    # Same port as the internal site, so connecting to a re-resolved name would reach it.
    site = _Site(PUBLIC_HOST, internal.port)
    yield site
    site.close()


@pytest.fixture
def media(tmp_path: Path) -> Iterator[MediaServer]:
    root = tmp_path / "media"
    root.mkdir()
    (root / "clip.mp4").write_bytes(CLIP)
    (root / "big.mp4").write_bytes(BIG)
    with MediaServer(root, host=PUBLIC_HOST) as server:
        yield server


@pytest.fixture(params=sorted(HANDLER_OPTIONS))
def handler(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


def _ydl(proxy: EgressProxy, handler: str, home: Path, **params: Any) -> yt_dlp.YoutubeDL:
    options: dict[str, Any] = {
        "proxy": proxy.url,
        "quiet": True,
        "noprogress": True,
        "no_warnings": True,
        "retries": 0,
        "extractor_retries": 0,
        "socket_timeout": 5,
        "cachedir": False,
        "paths": {"home": str(home)},
        "outtmpl": "%(id)s.%(ext)s",
        "compat_opts": HANDLER_OPTIONS[handler],
        **params,
    }
    return yt_dlp.YoutubeDL(options)


def _raw_exchange(proxy: EgressProxy, payload: bytes) -> bytes:
    """Send ``payload`` to the proxy on one connection and read until it closes."""
    port = int(proxy.url.rsplit(":", 1)[1])
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def _egress_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("egress-proxy")]


# (a) allowed traffic flows intact


def test_direct_download_through_the_proxy(
    proxy: EgressProxy, media: MediaServer, handler: str, tmp_path: Path
) -> None:
    # Chunked downloading makes yt-dlp fetch the file as a series of Range requests.
    with _ydl(proxy, handler, tmp_path, http_chunk_size=100_000) as ydl:
        info = ydl.extract_info(media.url("clip.mp4"))

    assert Path(info["requested_downloads"][0]["filepath"]).read_bytes() == CLIP
    assert any(hit.range for hit in media.hits_for("clip.mp4"))
    assert proxy.refusals == []


def test_range_request_through_the_proxy(
    proxy: EgressProxy, media: MediaServer, handler: str, tmp_path: Path
) -> None:
    with _ydl(proxy, handler, tmp_path) as ydl:
        response = ydl.urlopen(Request(media.url("clip.mp4"), headers={"Range": "bytes=100-199"}))
        body = response.read()

    assert response.status == 206
    assert body == CLIP[100:200]


def test_post_body_passes_through_intact(
    proxy: EgressProxy, public: _Site, handler: str, tmp_path: Path
) -> None:
    payload = random.Random(3).randbytes(200_000)

    with _ydl(proxy, handler, tmp_path) as ydl:
        echoed = ydl.urlopen(Request(public.url("/echo"), data=payload)).read()

    assert echoed == payload


# (b)-(e) forbidden targets, directly or behind a redirect from an allowed host


def test_redirect_to_an_internal_host_is_refused(
    proxy: EgressProxy, public: _Site, internal: _Site, handler: str, tmp_path: Path
) -> None:
    url = public.url("/redirect", to=internal.url("/secret.mp4"))

    with _ydl(proxy, handler, tmp_path) as ydl, pytest.raises(DownloadError, match="403"):
        ydl.extract_info(url)

    assert proxy.refusals == [
        Refusal(INTERNAL_HOST, internal.port, "127.0.0.1", "loopback address")
    ]
    assert internal.connections == 0
    assert public.server.paths == ["/redirect"]


def test_redirect_to_the_metadata_endpoint_is_refused(
    proxy: EgressProxy, public: _Site, handler: str, tmp_path: Path
) -> None:
    url = public.url("/redirect", to="http://169.254.169.254/latest/meta-data/")
    started = time.monotonic()

    with _ydl(proxy, handler, tmp_path) as ydl, pytest.raises(DownloadError, match="403"):
        ydl.extract_info(url)

    # Refused on the address alone: a connection attempt would have taken seconds.
    assert time.monotonic() - started < 3
    assert proxy.refusals == [
        Refusal("169.254.169.254", 80, "169.254.169.254", "link-local address")
    ]


@pytest.mark.parametrize(
    ("host", "address", "reason"),
    [
        ("2130706433", "127.0.0.1", "loopback address"),
        ("0x7f.1", "127.0.0.1", "loopback address"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "IPv4-mapped loopback address"),
        ("localhost", "127.0.0.1", "loopback address"),
    ],
)
def test_redirect_to_an_odd_spelling_of_loopback_is_refused(
    proxy: EgressProxy,
    public: _Site,
    internal: _Site,
    handler: str,
    tmp_path: Path,
    host: str,
    address: str,
    reason: str,
) -> None:
    url = public.url("/redirect", to=f"http://{host}:{internal.port}/")

    with _ydl(proxy, handler, tmp_path) as ydl, pytest.raises(DownloadError, match="403"):
        ydl.extract_info(url)

    [refusal] = proxy.refusals
    assert (refusal.port, refusal.address, refusal.reason) == (internal.port, address, reason)
    assert internal.connections == 0


def test_direct_url_to_an_internal_host_is_refused(
    proxy: EgressProxy, internal: _Site, handler: str, tmp_path: Path
) -> None:
    with _ydl(proxy, handler, tmp_path) as ydl, pytest.raises(HTTPError) as refused:
        ydl.urlopen(internal.url("/"))

    assert refused.value.status == 403
    assert refused.value.response.headers["X-Egress-Refused"] == "forbidden_address"
    assert [r.address for r in proxy.refusals] == ["127.0.0.1"]
    assert internal.connections == 0


def test_https_to_an_internal_host_is_refused_at_connect(
    proxy: EgressProxy, internal: _Site, handler: str, tmp_path: Path
) -> None:
    with _ydl(proxy, handler, tmp_path) as ydl, pytest.raises(ProxyError, match="403"):
        ydl.urlopen(f"https://{INTERNAL_HOST}:{internal.port}/")

    assert [r.address for r in proxy.refusals] == ["127.0.0.1"]
    assert internal.connections == 0


# (f) CONNECT


def test_connect_to_a_forbidden_host_is_refused(proxy: EgressProxy, internal: _Site) -> None:
    response = _raw_exchange(
        proxy, f"CONNECT {INTERNAL_HOST}:{internal.port} HTTP/1.1\r\n\r\n".encode()
    )

    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"\r\nX-Egress-Refused: forbidden_address" in head
    assert b"loopback" in body
    assert internal.connections == 0


def test_http_client_tunnel_to_a_forbidden_host_fails(proxy: EgressProxy, internal: _Site) -> None:
    port = int(proxy.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.set_tunnel("169.254.169.254", 443)

    with pytest.raises(OSError, match="403"):
        connection.request("GET", "/latest/meta-data/")
    connection.close()

    assert [r.host for r in proxy.refusals] == ["169.254.169.254"]


def test_connect_to_an_allowed_host_tunnels_both_ways(proxy: EgressProxy, public: _Site) -> None:
    port = int(proxy.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.set_tunnel(PUBLIC_HOST, public.port)

    connection.request("POST", "/echo", body=b"through the tunnel")
    body = connection.getresponse().read()
    connection.close()

    assert body == b"through the tunnel"


# (g) one request per connection


def test_a_second_request_on_the_same_connection_never_leaves(
    proxy: EgressProxy, recorder: _Recorder, internal: _Site
) -> None:
    first = f"GET {recorder.url}/first HTTP/1.1\r\nHost: {PUBLIC_HOST}\r\n\r\n"
    smuggled = f"GET {internal.url('/smuggled')} HTTP/1.1\r\nHost: {INTERNAL_HOST}\r\n\r\n"

    response = _raw_exchange(proxy, (first + smuggled).encode())

    assert response.count(b"HTTP/1.") == 1
    assert b"\r\nConnection: close\r\n" in response
    assert recorder.received().startswith(b"GET /first HTTP/1.1\r\n")
    assert b"smuggled" not in recorder.received()
    assert internal.connections == 0


def test_bytes_past_a_declared_body_are_dropped(proxy: EgressProxy, recorder: _Recorder) -> None:
    smuggled = f"GET /smuggled HTTP/1.1\r\nHost: {PUBLIC_HOST}\r\n\r\n"
    request = (
        f"POST {recorder.url}/form HTTP/1.1\r\nHost: {PUBLIC_HOST}\r\n"
        f"Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello{smuggled}"
    )

    response = _raw_exchange(proxy, request.encode())

    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert recorder.received().endswith(b"\r\n\r\nhello")


def test_a_body_arriving_in_pieces_is_cut_at_its_length(
    proxy: EgressProxy, recorder: _Recorder
) -> None:
    port = int(proxy.url.rsplit(":", 1)[1])
    head = f"POST {recorder.url}/form HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
    smuggled = f"GET /smuggled HTTP/1.1\r\nHost: {PUBLIC_HOST}\r\n\r\n"

    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(f"{head}hel".encode())
        assert recorder.wait_for(b"hel")
        client.sendall(f"lo{smuggled}".encode())

        assert recorder.received().endswith(b"\r\n\r\nhello")
        assert client.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def test_keep_alive_responses_are_turned_into_close(
    proxy: EgressProxy, recorder: _Recorder
) -> None:
    response = _raw_exchange(proxy, f"GET {recorder.url}/ HTTP/1.1\r\n\r\n".encode())

    head = response.partition(b"\r\n\r\n")[0].lower()
    assert b"keep-alive" not in head
    assert head.endswith(b"\r\nconnection: close")


def test_upstream_sees_origin_form_without_proxy_headers(proxy: EgressProxy, public: _Site) -> None:
    request = (
        f"GET {public.url('/headers', q='1')} HTTP/1.1\r\n"
        "Host: attacker.example\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "Proxy-Authorization: Basic c2VjcmV0\r\n"
        "Connection: keep-alive, X-Hop\r\n"
        "Keep-Alive: timeout=5\r\n"
        "X-Hop: 1\r\n"
        "X-Kept: yes\r\n\r\n"
    )

    response = _raw_exchange(proxy, request.encode())

    seen = json.loads(response.partition(b"\r\n\r\n")[2])
    headers = {name.lower(): value for name, value in seen["headers"]}
    assert seen["line"] == "GET /headers?q=1 HTTP/1.1"
    assert headers == {
        "host": f"{PUBLIC_HOST}:{public.port}",
        "x-kept": "yes",
        "connection": "close",
    }


# malformed and unsupported requests


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n",
        b"GET ftp://127.0.0.2/file HTTP/1.1\r\n\r\n",
        b"GET https://127.0.0.2/ HTTP/1.1\r\n\r\n",
        b"GET http://user@127.0.0.2/ HTTP/1.1\r\n\r\n",
        b"GET http://127.0.0.2/ HTTP/2.0\r\n\r\n",
        b"not a request\r\n\r\n",
        b"GET http://127.0.0.2/ HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET http://127.0.0.2/ HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
        b"GET http://127.0.0.2/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST http://127.0.0.2/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"CONNECT 127.0.0.2 HTTP/1.1\r\n\r\n",
        b"CONNECT ::1:443 HTTP/1.1\r\n\r\n",
        b"CONNECT 127.0.0.2:70000 HTTP/1.1\r\n\r\n",
    ],
)
def test_malformed_requests_get_400(proxy: EgressProxy, request_head: bytes) -> None:
    response = _raw_exchange(proxy, request_head)

    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert proxy.refusals == []


def test_a_head_over_64_kib_gets_400(proxy: EgressProxy) -> None:
    start = b"GET http://127.0.0.2/ HTTP/1.1\r\nX-Padding: "
    # Exactly one byte too many, so the proxy has read everything when it answers.
    oversized = start + b"a" * (MAX_HEAD_SIZE + 1 - len(start))

    response = _raw_exchange(proxy, oversized)

    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_unresolvable_hosts_get_502(proxy: EgressProxy) -> None:
    host = "a" * 64 + ".invalid"

    response = _raw_exchange(proxy, f"GET http://{host}/ HTTP/1.1\r\n\r\n".encode())

    assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert proxy.refusals == []


def test_an_unreachable_allowed_host_gets_502(proxy: EgressProxy) -> None:
    with socket.create_server((PUBLIC_HOST, 0)) as placeholder:
        closed_port = placeholder.getsockname()[1]

    response = _raw_exchange(
        proxy, f"GET http://{PUBLIC_HOST}:{closed_port}/ HTTP/1.1\r\n\r\n".encode()
    )

    assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


# DNS rebinding


def test_the_proxy_connects_to_the_address_it_checked(
    proxy: EgressProxy, public: _Site, internal: _Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first answer is allowed, every later one points inside: a rebinding attack.
    real_getaddrinfo = socket.getaddrinfo
    answers = iter([PUBLIC_HOST])

    def rebinding_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return real_getaddrinfo(next(answers, INTERNAL_HOST), *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)

    response = _raw_exchange(
        proxy, f"GET http://rebind.test:{public.port}/page HTTP/1.1\r\n\r\n".encode()
    )

    assert response.startswith(b"HTTP/1.0 200 OK\r\n")
    assert public.server.paths == ["/page"]
    assert internal.connections == 0


# concurrency, time-outs and shutdown


def test_many_concurrent_downloads(proxy: EgressProxy, media: MediaServer) -> None:
    port = int(proxy.url.rsplit(":", 1)[1])

    def fetch(_: int) -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", media.url("clip.mp4"))
        body = connection.getresponse().read()
        connection.close()
        return body

    with ThreadPoolExecutor(max_workers=24) as pool:
        bodies = list(pool.map(fetch, range(48)))

    assert all(body == CLIP for body in bodies)


def test_stop_ends_a_throttled_download_promptly(
    media: MediaServer, handler: str, tmp_path: Path
) -> None:
    flowing = threading.Event()
    failures: list[Exception] = []

    def on_progress(progress: dict[str, Any]) -> None:
        if progress.get("downloaded_bytes"):
            flowing.set()

    def download(proxy: EgressProxy) -> None:
        try:
            with _ydl(proxy, handler, tmp_path, progress_hooks=[on_progress]) as ydl:
                ydl.extract_info(media.url("big.mp4", rate=64_000))
        except Exception as exc:
            failures.append(exc)

    proxy = EgressProxy(POLICY)
    proxy.start()
    downloader = threading.Thread(target=download, args=(proxy,))
    downloader.start()
    assert flowing.wait(10)

    stopped_at = time.monotonic()
    proxy.stop()
    downloader.join(5)

    assert not downloader.is_alive()
    assert time.monotonic() - stopped_at < 2
    assert len(failures) == 1
    assert isinstance(failures[0], DownloadError)
    assert _egress_threads() == []


def test_stop_closes_idle_and_half_open_connections() -> None:
    proxy = EgressProxy(POLICY)
    proxy.start()
    port = int(proxy.url.rsplit(":", 1)[1])
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    for client in clients[:10]:
        client.sendall(b"GET http://127.0.0.2/ HTTP/1.1\r\n")  # a head that never ends

    started = time.monotonic()
    proxy.stop()

    assert time.monotonic() - started < 2
    assert _egress_threads() == []
    for client in clients:
        with client, pytest.raises(ConnectionResetError):
            client.recv(1)


def test_idle_tunnels_are_closed(public: _Site) -> None:
    with EgressProxy(POLICY, idle_timeout=0.3) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(f"CONNECT {PUBLIC_HOST}:{public.port} HTTP/1.1\r\n\r\n".encode())
            assert client.recv(1024).startswith(b"HTTP/1.1 200 Connection established")

            started = time.monotonic()
            with pytest.raises(ConnectionResetError):
                client.recv(1024)

    assert time.monotonic() - started < 2
