"""The egress proxy chained to an operator's upstream HTTP proxy, with real yt-dlp.

127.0.0.3 hosts the upstream proxy, a small real one that records every request it gets.
The policy allows only 127.0.0.2 (and test-specific extras), so every passing test also
shows that the upstream host itself is trusted configuration, not a checked target.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from yt_dlp.networking.exceptions import HTTPError, ProxyError
from yt_dlp.utils import DownloadError

from app.security.addresses import AddressPolicy, IPNetwork
from app.security.egress import EgressProxy, Refusal
from tests.security.test_egress import (
    BIG,
    CLIP,
    HANDLER_OPTIONS,
    INTERNAL_HOST,
    POLICY,
    PUBLIC_HOST,
    _egress_threads,
    _raw_exchange,
    _Site,
    _ydl,
)
from tests.support.media_server import MediaServer

UPSTREAM_HOST = "127.0.0.3"
SPARE_HOST = "127.0.0.4"
USER = "yt dl@home"
PASSWORD = "p:ss/wörd%"
# The same credentials as they must appear in a URL: percent-encoded, UTF-8 underneath.
QUOTED_CREDENTIALS = "yt%20dl%40home:p%3Ass%2Fw%C3%B6rd%25"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass(frozen=True)
class _Seen:
    """One request as the upstream proxy received it."""

    line: str
    host: str | None
    authorization: str | None


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, authorization: str | None, refuse_connect: int | None) -> None:
        super().__init__((UPSTREAM_HOST, 0), _UpstreamHandler)
        self.authorization = authorization
        self.refuse_connect = refuse_connect
        self.lock = threading.Lock()
        self.requests: list[_Seen] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets from a stopped egress proxy are expected


class _UpstreamHandler(BaseHTTPRequestHandler):
    """CONNECT and absolute-form GET, like a forward proxy; 407 without the right Basic auth."""

    protocol_version = "HTTP/1.1"

    @property
    def owner(self) -> _UpstreamServer:
        return cast(_UpstreamServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        if not self._admitted():
            return
        if self.owner.refuse_connect is not None:
            self._fail(self.owner.refuse_connect)
            return
        host, _, port = self.path.rpartition(":")
        target = self._dial(host.strip("[]"), int(port))
        if target is not None:
            self.send_response(200, "Connection established")
            self.end_headers()
            self._pipe(target)

    def do_GET(self) -> None:
        if not self._admitted():
            return
        url = urlsplit(self.path)
        target = self._dial(url.hostname or "", url.port or 80)
        if target is None:
            return
        origin = f"{url.path}?{url.query}" if url.query else url.path
        forwarded = [f"{name}: {value}" for name, value in self.headers.items()]
        head = [f"GET {origin} {self.request_version}", *forwarded]
        kept = [line for line in head if not line.lower().startswith("proxy-authorization")]
        target.sendall(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
        self._pipe(target)

    def _admitted(self) -> bool:
        authorization = self.headers["Proxy-Authorization"]
        with self.owner.lock:
            self.owner.requests.append(_Seen(self.requestline, self.headers["Host"], authorization))
        expected = self.owner.authorization
        if expected is not None and authorization != expected:
            self._fail(407)
            return False
        return True

    def _dial(self, host: str, port: int) -> socket.socket | None:
        try:
            return socket.create_connection((host, port), timeout=5)
        except OSError:
            self._fail(502)
            return None

    def _fail(self, status: int) -> None:
        self.send_response(status)
        if status == 407:
            self.send_header("Proxy-Authenticate", 'Basic realm="upstream"')
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _pipe(self, target: socket.socket) -> None:
        self.close_connection = True

        def upload() -> None:
            # rfile may already hold bytes the client sent right after its request head.
            with contextlib.suppress(OSError):
                while chunk := self.rfile.read1(65536):
                    target.sendall(chunk)
                target.shutdown(socket.SHUT_WR)

        uploader = threading.Thread(target=upload, daemon=True)
        uploader.start()
        with target, contextlib.suppress(OSError):
            while chunk := target.recv(65536):
                self.connection.sendall(chunk)
            self.connection.shutdown(socket.SHUT_WR)
        uploader.join(10)


class _Upstream:
    def __init__(self, *, authorization: str | None, refuse_connect: int | None = None) -> None:
        self.server = _UpstreamServer(authorization=authorization, refuse_connect=refuse_connect)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, credentials: str | None = QUOTED_CREDENTIALS) -> str:
        userinfo = f"{credentials}@" if credentials else ""
        return f"http://{userinfo}{UPSTREAM_HOST}:{self.port}"

    @property
    def requests(self) -> list[_Seen]:
        with self.server.lock:
            return list(self.server.requests)

    @property
    def lines(self) -> list[str]:
        return [seen.line for seen in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class _TlsSite(ThreadingHTTPServer):
    """An https site on the public address that serves CLIP and remembers each SNI name."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__((PUBLIC_HOST, 0), _TlsHandler)
        self.port = int(self.server_address[1])
        self.server_names: list[str | None] = []
        context.sni_callback = self._record_server_name
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def _record_server_name(
        self, connection: ssl.SSLObject, name: str | None, context: ssl.SSLContext
    ) -> None:
        self.server_names.append(name)


class _TlsHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(CLIP)))
        self.end_headers()
        self.wfile.write(CLIP)


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream(authorization=AUTHORIZATION)
    yield server
    server.close()


@pytest.fixture
def guard(upstream: _Upstream) -> Iterator[EgressProxy]:
    with EgressProxy(POLICY, upstream=upstream.url()) as running:
        yield running


@pytest.fixture
def internal() -> Iterator[_Site]:
    site = _Site(INTERNAL_HOST)
    yield site
    site.close()


@pytest.fixture
def public() -> Iterator[_Site]:
    site = _Site(PUBLIC_HOST)
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


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=media.test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_site(certificate: tuple[Path, Path]) -> Iterator[_TlsSite]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    site = _TlsSite(context)
    thread = threading.Thread(
        target=site.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield site
    site.shutdown()
    site.server_close()
    thread.join(5)


@pytest.fixture(params=sorted(HANDLER_OPTIONS))
def handler(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


def _policy(*hosts: str) -> AddressPolicy:
    networks: list[IPNetwork] = [ipaddress.ip_network(host) for host in (PUBLIC_HOST, *hosts)]
    return AddressPolicy(allowed_cidrs=tuple(networks))


def _resolve_names(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> None:
    """Make the test-only ``names`` resolve, in this process, to the given addresses in order."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in names:
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [
            info
            for address in names[host]
            for info in real_getaddrinfo(address, port, *args, **kwargs)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _tunnel_get(guard: EgressProxy, authority: str, path: str = "/headers") -> bytes:
    """CONNECT to ``authority`` through the guard, then GET ``path`` inside the tunnel."""
    request = f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    return _raw_exchange(guard, f"CONNECT {authority} HTTP/1.1\r\n\r\n{request}".encode())


def _closed_port(host: str) -> int:
    with socket.create_server((host, 0)) as placeholder:
        return int(placeholder.getsockname()[1])


# allowed traffic goes guard -> upstream -> target, addressed to the checked IP


def test_a_download_travels_through_the_upstream_intact(
    guard: EgressProxy, upstream: _Upstream, media: MediaServer, handler: str, tmp_path: Path
) -> None:
    with _ydl(guard, handler, tmp_path, http_chunk_size=100_000) as ydl:
        info = ydl.extract_info(media.url("clip.mp4"))

    assert Path(info["requested_downloads"][0]["filepath"]).read_bytes() == CLIP
    assert upstream.lines
    assert all(
        line.startswith(f"GET http://{PUBLIC_HOST}:{media.port}/clip.mp4")
        for line in upstream.lines
    )
    assert {seen.authorization for seen in upstream.requests} == {AUTHORIZATION}
    assert len(media.hits_for("clip.mp4")) == len(upstream.lines)
    assert guard.refusals == []


def test_https_by_name_tunnels_to_the_checked_ip_with_sni_intact(
    guard: EgressProxy,
    upstream: _Upstream,
    tls_site: _TlsSite,
    handler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolve_names(monkeypatch, {"media.test": [PUBLIC_HOST]})

    with _ydl(guard, handler, tmp_path, nocheckcertificate=True) as ydl:
        body = ydl.urlopen(f"https://media.test:{tls_site.port}/clip.mp4").read()

    assert body == CLIP
    checked = f"{PUBLIC_HOST}:{tls_site.port}"
    assert upstream.requests == [_Seen(f"CONNECT {checked} HTTP/1.1", checked, AUTHORIZATION)]
    # TLS runs end to end inside the tunnel, so the site still learns the name it serves.
    assert tls_site.server_names == ["media.test"]


def test_plain_http_by_name_reaches_the_upstream_as_the_checked_ip(
    guard: EgressProxy, upstream: _Upstream, public: _Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolve_names(monkeypatch, {"media.test": [PUBLIC_HOST]})
    request = (
        f"GET http://media.test:{public.port}/headers?q=1 HTTP/1.1\r\n"
        "Proxy-Authorization: Basic Y2xpZW50OmNyZWRz\r\n\r\n"
    )

    response = _raw_exchange(guard, request.encode())

    assert response.startswith(b"HTTP/1.0 200 OK\r\n")
    # The Host header keeps the name, so virtual hosting behind the IP still works.
    assert upstream.requests == [
        _Seen(
            f"GET http://{PUBLIC_HOST}:{public.port}/headers?q=1 HTTP/1.1",
            f"media.test:{public.port}",
            AUTHORIZATION,
        )
    ]


def test_connect_tunnels_both_ways_through_the_upstream(
    guard: EgressProxy, upstream: _Upstream, public: _Site
) -> None:
    response = _tunnel_get(guard, f"{PUBLIC_HOST}:{public.port}")

    assert response.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.0 200 OK")
    assert b'"GET /headers HTTP/1.1"' in response
    assert upstream.lines == [f"CONNECT {PUBLIC_HOST}:{public.port} HTTP/1.1"]


def test_an_upstream_without_credentials_gets_no_proxy_authorization(
    public: _Site,
) -> None:
    upstream = _Upstream(authorization=None)
    try:
        with EgressProxy(POLICY, upstream=upstream.url(credentials=None)) as guard:
            response = _tunnel_get(guard, f"{PUBLIC_HOST}:{public.port}")
    finally:
        upstream.close()

    assert response.startswith(b"HTTP/1.1 200 Connection established\r\n")
    assert [seen.authorization for seen in upstream.requests] == [None]


def test_ipv4_addresses_are_offered_to_the_upstream_first(
    upstream: _Upstream, public: _Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolve_names(monkeypatch, {"dual.test": ["::1", PUBLIC_HOST]})

    with EgressProxy(_policy("::1/128"), upstream=upstream.url()) as guard:
        tunnelled = _tunnel_get(guard, f"dual.test:{public.port}")
        fetched = _raw_exchange(
            guard, f"GET http://dual.test:{public.port}/ HTTP/1.1\r\n\r\n".encode()
        )

    assert tunnelled.startswith(b"HTTP/1.1 200 Connection established\r\n")
    assert fetched.startswith(b"HTTP/1.0 200 OK\r\n")
    assert upstream.lines == [
        f"CONNECT {PUBLIC_HOST}:{public.port} HTTP/1.1",
        f"GET http://{PUBLIC_HOST}:{public.port}/ HTTP/1.1",
    ]


def test_an_address_the_upstream_cannot_reach_falls_back_to_the_next(
    upstream: _Upstream, public: _Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolve_names(monkeypatch, {"dual.test": [SPARE_HOST, PUBLIC_HOST]})

    with EgressProxy(_policy(SPARE_HOST), upstream=upstream.url()) as guard:
        response = _tunnel_get(guard, f"dual.test:{public.port}")

    assert response.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.0 200 OK")
    assert upstream.lines == [
        f"CONNECT {SPARE_HOST}:{public.port} HTTP/1.1",
        f"CONNECT {PUBLIC_HOST}:{public.port} HTTP/1.1",
    ]


# forbidden targets are refused by the guard and never reach the upstream


def test_a_redirect_to_localhost_is_refused_before_the_upstream(
    guard: EgressProxy,
    upstream: _Upstream,
    public: _Site,
    internal: _Site,
    handler: str,
    tmp_path: Path,
) -> None:
    url = public.url("/redirect", to=f"http://localhost:{internal.port}/secret.mp4")

    with _ydl(guard, handler, tmp_path) as ydl, pytest.raises(DownloadError, match="403"):
        ydl.extract_info(url)

    assert guard.refusals == [Refusal("localhost", internal.port, "127.0.0.1", "loopback address")]
    assert [urlsplit(line.split(" ")[1]).path for line in upstream.lines] == ["/redirect"]
    assert internal.connections == 0


def test_forbidden_targets_never_reach_the_upstream(
    guard: EgressProxy, upstream: _Upstream, internal: _Site, handler: str, tmp_path: Path
) -> None:
    with _ydl(guard, handler, tmp_path) as ydl:
        with pytest.raises(HTTPError) as refused:
            ydl.urlopen(internal.url("/"))
        with pytest.raises(ProxyError, match="403"):
            ydl.urlopen(f"https://{INTERNAL_HOST}:{internal.port}/")

    refused.value.response.close()
    assert refused.value.status == 403
    assert refused.value.response.headers["X-Egress-Refused"] == "forbidden_address"
    assert [refusal.address for refusal in guard.refusals] == ["127.0.0.1", "127.0.0.1"]
    assert upstream.requests == []
    assert internal.connections == 0


def test_a_name_resolving_to_a_forbidden_address_is_refused_at_connect(
    guard: EgressProxy, upstream: _Upstream, internal: _Site
) -> None:
    response = _raw_exchange(guard, f"CONNECT localhost:{internal.port} HTTP/1.1\r\n\r\n".encode())

    assert response.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"\r\nX-Egress-Refused: forbidden_address\r\n" in response
    assert [refusal.host for refusal in guard.refusals] == ["localhost"]
    assert upstream.requests == []


# upstream failures are 502s, never refusals


@pytest.mark.parametrize("status", [403, 407])
def test_an_upstream_refusing_connect_gives_502(public: _Site, status: int) -> None:
    upstream = _Upstream(authorization=None, refuse_connect=status)
    try:
        with EgressProxy(POLICY, upstream=upstream.url()) as guard:
            response = _tunnel_get(guard, f"{PUBLIC_HOST}:{public.port}")
            refusals = guard.refusals
    finally:
        upstream.close()

    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert f"CONNECT answered {status}".encode() in body
    assert b"HTTP/1.0 200" not in response
    assert len(upstream.requests) == 1  # a refusal is not retried on the next address
    assert refusals == []


def test_wrong_credentials_fail_tunnels_with_502_and_relay_407_for_plain_http(
    upstream: _Upstream, public: _Site, handler: str, tmp_path: Path
) -> None:
    with EgressProxy(POLICY, upstream=upstream.url("yt%20dl%40home:wrong")) as guard:
        with _ydl(guard, handler, tmp_path) as ydl, pytest.raises(HTTPError) as relayed:
            ydl.urlopen(public.url("/headers"))
        relayed.value.response.close()
        response = _tunnel_get(guard, f"{PUBLIC_HOST}:{public.port}")

    # For plain http the answer belongs to the request, so the upstream's 407 is passed on.
    assert relayed.value.status == 407
    assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert public.server.paths == []


@pytest.mark.parametrize("tunnel", [True, False], ids=["connect", "http"])
def test_an_unreachable_upstream_gives_502(
    public: _Site, tunnel: bool, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://{QUOTED_CREDENTIALS}@{UPSTREAM_HOST}:{_closed_port(UPSTREAM_HOST)}"
    caplog.set_level(logging.DEBUG, logger="app.security.egress")

    with EgressProxy(POLICY, upstream=url) as guard:
        if tunnel:
            response = _tunnel_get(guard, f"{PUBLIC_HOST}:{public.port}")
        else:
            response = _raw_exchange(guard, f"GET {public.url('/')} HTTP/1.1\r\n\r\n".encode())
        refusals = guard.refusals
        unreachable = guard.unreachable

    assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"cannot connect to 127.0.0.3" in response
    assert refusals == []
    # What the job's error will say: the setting to look at, never the proxy's password.
    assert [(u.code, u.retryable) for u in unreachable] == [("proxy_failed", True)]
    assert unreachable[0].message.startswith("The proxy set in YTDLP_PROXY failed: cannot connect")
    assert public.connections == 0
    assert "upstream proxy" in caplog.text
    for secret in ("wörd", "w%C3%B6rd", AUTHORIZATION.removeprefix("Basic ")):
        assert secret not in caplog.text
        assert secret.encode() not in response
        assert secret not in unreachable[0].message


def test_an_upstream_that_never_answers_connect_gives_502(public: _Site) -> None:
    with socket.create_server((UPSTREAM_HOST, 0)) as silent:
        url = f"http://{UPSTREAM_HOST}:{silent.getsockname()[1]}"
        with EgressProxy(POLICY, upstream=url, connect_timeout=0.3) as guard:
            started = time.monotonic()
            response = _tunnel_get(guard, f"{PUBLIC_HOST}:{public.port}")
            elapsed = time.monotonic() - started

    assert response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"no answer to CONNECT in time" in response
    assert elapsed < 2


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("socks5://user:secret@127.0.0.3:1080", "socks5:// upstream proxies are not supported"),
        ("https://user:secret@127.0.0.3:443", "https:// upstream proxies are not supported"),
        ("user:secret@127.0.0.3:8080", "must start with http://"),
        ("", "must start with http://"),
        ("http://user:secret@:8080", "needs a host"),
        ("http://user:secret@127.0.0.3", "needs an explicit port"),
        ("http://user:secret@127.0.0.3:0", "needs an explicit port"),
        ("http://user:secret@127.0.0.3:99999", "malformed"),
        ("http://user:secret@127.0.0.3:8080/path", "cannot have a path"),
        ("http://us%3Aer:secret@127.0.0.3:8080", "user name cannot contain ':'"),
    ],
)
def test_unusable_upstream_urls_are_rejected_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as rejected:
        EgressProxy(POLICY, upstream=url)

    assert "secret" not in str(rejected.value)
    assert rejected.value.__cause__ is None


def test_the_credentials_stay_out_of_the_proxy_state_repr(upstream: _Upstream) -> None:
    with EgressProxy(POLICY, upstream=upstream.url()) as guard:
        state = repr(vars(guard))

    assert f"port={upstream.port}" in state  # the upstream settings are in there, minus secrets
    for secret in ("wörd", "w%C3%B6rd", AUTHORIZATION.removeprefix("Basic ")):
        assert secret not in state


# shutdown


def test_stop_ends_a_download_through_the_upstream_promptly(
    upstream: _Upstream, media: MediaServer, handler: str, tmp_path: Path
) -> None:
    flowing = threading.Event()
    failures: list[Exception] = []
    guard = EgressProxy(POLICY, upstream=upstream.url())
    guard.start()
    downloader = threading.Thread(
        target=_download_into,
        args=(guard, handler, tmp_path, media.url("big.mp4", rate=64_000), flowing, failures),
    )
    downloader.start()
    assert flowing.wait(10)

    stopped_at = time.monotonic()
    guard.stop()
    downloader.join(5)

    assert not downloader.is_alive()
    assert time.monotonic() - stopped_at < 2
    assert [type(failure) for failure in failures] == [DownloadError]
    assert _egress_threads() == []
    assert upstream.lines and upstream.lines[0].startswith(f"GET http://{PUBLIC_HOST}:")


def _download_into(
    guard: EgressProxy,
    handler: str,
    home: Path,
    url: str,
    flowing: threading.Event,
    failures: list[Exception],
) -> None:
    def on_progress(progress: dict[str, Any]) -> None:
        if progress.get("downloaded_bytes"):
            flowing.set()

    try:
        with _ydl(guard, handler, home, progress_hooks=[on_progress]) as ydl:
            ydl.extract_info(url)
    except Exception as exc:
        failures.append(exc)
