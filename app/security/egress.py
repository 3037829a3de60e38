"""A forwarding proxy on loopback that lets yt-dlp reach only addresses the policy allows.

yt-dlp is pointed at it with ``{"proxy": proxy.url}``. Every request then arrives here as
``CONNECT host:port`` (https) or an absolute-form request (http), including each redirect
hop, so every hop is checked. The proxy resolves the host once, refuses it when any of its
addresses is forbidden, and connects to the address it checked, so DNS rebinding between
the check and the connection cannot redirect it.

Each client connection carries exactly one request: the upstream request is rewritten with
``Connection: close`` and only its declared body is forwarded, so a second request cannot
ride along on a kept-alive connection without being checked.

With ``upstream`` set (an operator's ``http://[user:password@]host:port`` proxy) every
checked request leaves through that proxy instead, still addressed to the checked IP rather
than the name, so the upstream proxy cannot be talked into resolving the name differently.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import logging
import os
import re
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from urllib.parse import unquote, urlsplit

from app.security.addresses import AddressPolicy, ForbiddenAddress, UnresolvableHost

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

BUFFER_SIZE = 64 * 1024
# A pipe this large lets one splice(2) move whatever the socket has buffered (loopback
# buffers several MiB); it is also the default maximum an unprivileged process may set.
PIPE_SIZE = 1024 * 1024
MAX_HEAD_SIZE = 64 * 1024
REFUSED_HEADER = "X-Egress-Refused"

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_HEAD_END = b"\r\n\r\n"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(r"[\x21-\x7e]+")
_PORT = re.compile(r"[0-9]{1,5}")
_DIGITS = re.compile(r"[0-9]+")
_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})
# Hop-by-hop headers (RFC 9110 7.6.1) and Host, which is rebuilt from the request target.
_DROPPED_HEADERS = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "upgrade",
        "host",
    }
)
# Never dropped even when a client names them in Connection: they frame the request.
_FRAMING_HEADERS = frozenset({"content-length"})
_CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"proxy-connection"})
_STOP_JOIN_SECONDS = 5.0
_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [^\r\n]*)?")
# Upstream answers meaning it could not reach that address; another address may still work.
_GATEWAY_FAILURES = frozenset({HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT})
_UNSUPPORTED_SCHEMES = frozenset({"https", "socks4", "socks4a", "socks5", "socks5h"})
_CAN_SPLICE = hasattr(os, "splice") and hasattr(fcntl, "F_SETPIPE_SZ")
# Back-to-back moves before the relay looks at its selector (and at stop()) again.
_SPLICE_ROUNDS = 8
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)
# What splice(2) answers when it cannot join these descriptors; the flow then copies.
_NO_SPLICE_ERRNOS = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM})


@dataclass(frozen=True)
class Refusal:
    """A request the proxy refused because its target resolved to a forbidden address."""

    host: str
    port: int
    address: str | None
    reason: str


@dataclass(frozen=True)
class Unreachable:
    """A request the proxy could not carry out, in plain words: ``code`` is one of
    dns_failed, connection_refused, network_unreachable, connect_timeout, proxy_failed
    or network_error; ``retryable`` says whether the cause is likely to pass."""

    host: str
    port: int
    code: str
    message: str
    retryable: bool = True


# Connection errors that mean no route to the address rather than an answer from it.
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}
)


class _BadRequest(Exception):
    """The client sent something other than one well-formed proxy request."""


class _Stopped(Exception):
    """The proxy is shutting down."""


class _OversizedHead(Exception):
    """A request or response head did not end within MAX_HEAD_SIZE bytes."""


class _UpstreamFailure(Exception):
    """The upstream proxy refused, did not answer, or could not be reached."""


@dataclass(frozen=True)
class _UpstreamProxy:
    """Where checked requests leave when the operator routes egress through a proxy."""

    host: str
    port: int
    # The Proxy-Authorization line, if any; kept out of repr so it never reaches a log.
    credentials: tuple[bytes, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        return _authority(self.host, self.port)


@dataclass(frozen=True)
class _ProxyRequest:
    host: str
    port: int
    tunnel: bool
    method: str = "CONNECT"
    origin: str = ""
    version: str = "HTTP/1.1"
    # Host, the kept end-to-end headers and Connection: close, joined by CRLF.
    fields: bytes = b""
    body_length: int = 0

    def head(self, target: str, extra_fields: tuple[bytes, ...] = ()) -> bytes:
        """The request head to send on, with ``target`` in the request line."""
        start = f"{self.method} {target} {self.version}".encode("ascii")
        return b"\r\n".join([start, self.fields, *extra_fields]) + _HEAD_END


@dataclass(frozen=True)
class _Opening:
    """What goes out first on a fresh upstream connection, before bytes are relayed."""

    to_upstream: bytes = b""
    to_client: bytes = b""


@dataclass
class _ResponseHeads:
    """Rewrites upstream response heads to say ``Connection: close``.

    The proxy serves one request per connection; without this a keep-alive client (urllib3)
    would put the connection back in its pool and fail its next request on it.
    """

    buffered: bytes = b""
    finished: bool = False

    def feed(self, data: bytes) -> bytes:
        if self.finished:
            return data
        self.buffered += data
        out = b""
        while not self.finished:
            end = self.buffered.find(_HEAD_END)
            if end == -1:
                if len(self.buffered) > MAX_HEAD_SIZE:
                    raise ConnectionError("upstream response head larger than 64 KiB")
                return out
            head = self.buffered[:end]
            self.buffered = self.buffered[end + len(_HEAD_END) :]
            out += _closing_response_head(head)
            # Interim 1xx heads precede the real one, which must be rewritten as well.
            self.finished = not _is_interim(head)
        return out + self.flush()

    def flush(self) -> bytes:
        rest, self.buffered = self.buffered, b""
        self.finished = True
        return rest


@dataclass
class _Pipe:
    """A kernel pipe that carries a flow's bytes from socket to socket with splice(2), so
    the bytes never enter Python; ``filled`` is how many of them it holds.

    It starts at the kernel's default size and grows to PIPE_SIZE once the flow has carried
    that much: pages and API answers then take nothing from the user's pipe quota
    (pipe-user-pages-soft, 64 MiB), past which the kernel shrinks every new pipe the user
    opens, ffmpeg's included.
    """

    reader: int
    writer: int
    filled: int = 0
    moved: int = 0
    grown: bool = False

    @classmethod
    def open(cls) -> _Pipe | None:
        """A non-blocking pipe, or None where splice(2) is not to be had."""
        if not _CAN_SPLICE:
            return None
        try:
            reader, writer = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        return cls(reader, writer)

    def carried(self, count: int) -> None:
        """Note ``count`` bytes spliced in; grow the pipe once the flow proves large."""
        self.filled += count
        self.moved += count
        if self.moved >= PIPE_SIZE and not self.grown:
            self.grown = True
            # Refused past the quota: the default size still moves the bytes, in more calls.
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.writer, fcntl.F_SETPIPE_SZ, PIPE_SIZE)

    def drain(self) -> bytes:
        """Read back what the pipe holds (to copy it on when splice cannot)."""
        data = b""
        while len(data) < self.filled:
            data += os.read(self.reader, self.filled - len(data))
        self.filled = 0
        return data

    def close(self) -> None:
        os.close(self.reader)
        os.close(self.writer)


@dataclass
class _Flow:
    """Bytes moving one way; ``allowance`` caps what may still be forwarded (None: no cap).

    With a ``pipe``, raw bytes move by splice(2) once nothing is left to rewrite or cap:
    ``pending`` holds bytes that went through Python, the pipe those that did not, and
    only one of them is ever non-empty, so the order is kept.
    """

    source: socket.socket
    sink: socket.socket
    pending: bytes = b""
    allowance: int | None = None
    heads: _ResponseHeads | None = None
    ended: bool = False
    pipe: _Pipe | None = None

    @property
    def holding(self) -> bool:
        """Whether bytes wait to be written to the sink."""
        return bool(self.pending) or (self.pipe is not None and self.pipe.filled > 0)

    @property
    def done(self) -> bool:
        return self.ended and not self.holding

    @property
    def splicing(self) -> bool:
        return (
            self.pipe is not None
            and self.allowance is None
            and (self.heads is None or self.heads.finished)
        )

    def stop_splicing(self) -> None:
        """Copy through Python from now on, starting with what the pipe holds."""
        assert self.pipe is not None
        self.pending += self.pipe.drain()
        self.pipe.close()
        self.pipe = None


class EgressProxy:
    """An HTTP proxy on 127.0.0.1 that forwards only to addresses ``policy`` allows.

    Use as ``with EgressProxy(policy) as proxy:`` and hand ``proxy.url`` to yt-dlp.
    ``stop()`` resets every open connection, so a download in progress fails at once.

    ``upstream`` (``http://[user:password@]host:port``, port required) sends every checked
    request through that proxy, addressed to the checked IP. The upstream host is trusted
    configuration and is not checked against the policy. When it refuses a tunnel, cannot
    be reached or times out, the client gets 502; there is no fallback to going direct.
    Raises ValueError for any other kind of URL, without repeating the URL.

    Tunnels and response bodies move socket to socket through a kernel pipe (splice(2))
    where Linux allows it, and are copied through Python otherwise, or with
    ``zero_copy=False``.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        connect_timeout: float = 10.0,
        idle_timeout: float = 120.0,
        upstream: str | None = None,
        zero_copy: bool = True,
    ) -> None:
        self._upstream = None if upstream is None else _parse_upstream(upstream)
        self.zero_copy = zero_copy
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self._listener: socket.socket | None = None
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._refusals: list[Refusal] = []
        self._unreachable: list[Unreachable] = []
        self._threads: set[threading.Thread] = set()
        self._acceptor: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy URL for yt-dlp's ``proxy`` option."""
        if self._listener is None:
            raise RuntimeError("the egress proxy is not running")
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def refusals(self) -> list[Refusal]:
        """A snapshot of every refusal so far, oldest first."""
        with self._lock:
            return list(self._refusals)

    @property
    def unreachable(self) -> list[Unreachable]:
        """A snapshot of every request that could not reach its host, oldest first."""
        with self._lock:
            return list(self._unreachable)

    def start(self) -> None:
        """Listen on an ephemeral loopback port and start accepting connections."""
        if self._listener is not None or self._stopping.is_set():
            raise RuntimeError("an egress proxy can be started only once")
        listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        listener.setblocking(False)
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="egress-proxy-accept", daemon=True
        )
        self._acceptor.start()

    def stop(self) -> None:
        """Close the listener and reset every open connection; waits for the threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        # The wake socket stays readable from now on, so every waiting thread sees it.
        self._wake_writer.send(b"x")
        deadline = time.monotonic() + _STOP_JOIN_SECONDS
        if self._acceptor is not None:
            self._acceptor.join(_STOP_JOIN_SECONDS)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._wake_writer.close()
        # A thread still inside getaddrinfo will look at the wake socket once it returns.
        if not any(thread.is_alive() for thread in threads):
            self._wake_reader.close()

    def __enter__(self) -> EgressProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, _READ)
            selector.register(self._wake_reader, _READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._listener and not self._accept():
                        # Out of descriptors, say: back off rather than spin on accept().
                        self._stopping.wait(0.1)

    def _accept(self) -> bool:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return True
        except OSError as exc:
            logger.warning("egress proxy cannot accept a connection: %s", exc)
            return False
        client.setblocking(False)
        thread = threading.Thread(
            target=self._serve, args=(client,), name="egress-proxy-connection", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return True

    def _serve(self, client: socket.socket) -> None:
        try:
            with _Connection(self, client) as connection:
                connection.run()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _record(self, refusal: Refusal) -> None:
        logger.warning(
            "egress refused %s:%d (%s): %s",
            refusal.host,
            refusal.port,
            refusal.address,
            refusal.reason,
        )
        with self._lock:
            self._refusals.append(refusal)

    def _note_unreachable(self, failure: Unreachable) -> None:
        logger.info("egress could not reach %s:%d: %s", failure.host, failure.port, failure.message)
        with self._lock:
            self._unreachable.append(failure)

    def _resolve(self, host: str, port: int) -> list[str]:
        if self._stopping.is_set():
            raise _Stopped
        addresses = self.policy.resolve(host, port)
        # getaddrinfo cannot be interrupted; a stop() that happened meanwhile wins.
        if self._stopping.is_set():
            raise _Stopped
        return addresses


@dataclass
class _Connection:
    """One client connection: read one request, check it, then relay bytes."""

    proxy: EgressProxy
    client: socket.socket
    upstream: socket.socket | None = None
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    interest: dict[socket.socket, int] = field(default_factory=dict)
    aborted: bool = True

    def __enter__(self) -> _Connection:
        self.selector.register(self.proxy._wake_reader, _READ)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.selector.close()
        for sock in (self.client, self.upstream):
            if sock is not None:
                _close(sock, reset=self.aborted)

    def run(self) -> None:
        try:
            self._run()
        except _Stopped:
            pass
        except OSError as exc:
            logger.debug("egress connection ended: %s", exc)
        except Exception:
            logger.exception("egress proxy connection failed")

    def _run(self) -> None:
        try:
            head, early = self._read_head()
            request = _parse_request(head)
        except _BadRequest as exc:
            self._answer(HTTPStatus.BAD_REQUEST, f"bad proxy request: {exc}")
            return
        addresses = self._check(request)
        if addresses is None:
            return
        opening = self._open(request, addresses)
        if opening is None:
            return
        self._relay(request, early, opening)
        self.aborted = False

    def _read_head(self) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + self.proxy.connect_timeout
        try:
            return self._receive_head(self.client, deadline)
        except _OversizedHead as exc:
            raise _BadRequest("request head larger than 64 KiB") from exc
        except ConnectionAbortedError as exc:
            raise ConnectionAbortedError("client closed before sending a request") from exc

    def _receive_head(self, sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
        """A head up to its blank line, and whatever arrived after it."""
        received = b""
        while True:
            self._wait(sock, _READ, deadline)
            chunk = _recv(sock)
            if chunk is None:
                continue
            if not chunk:
                raise ConnectionAbortedError("closed before sending a complete head")
            scan_from = max(0, len(received) - len(_HEAD_END) + 1)
            received += chunk
            end = received.find(_HEAD_END, scan_from)
            if end == -1 and len(received) > MAX_HEAD_SIZE:
                raise _OversizedHead
            if end != -1:
                if end + len(_HEAD_END) > MAX_HEAD_SIZE:
                    raise _OversizedHead
                return received[: end + len(_HEAD_END)], received[end + len(_HEAD_END) :]

    def _check(self, request: _ProxyRequest) -> list[str] | None:
        try:
            return self.proxy._resolve(request.host, request.port)
        except ForbiddenAddress as exc:
            self.proxy._record(Refusal(request.host, request.port, exc.address, exc.reason))
            self._answer(
                HTTPStatus.FORBIDDEN,
                f"egress refused: {exc}",
                extra_headers=((REFUSED_HEADER, "forbidden_address"),),
            )
        except UnresolvableHost as exc:
            self.proxy._note_unreachable(
                Unreachable(
                    request.host,
                    request.port,
                    "dns_failed",
                    f"The host name {exc.host} did not resolve ({exc.detail}).",
                    retryable=exc.temporary,
                )
            )
            self._answer(HTTPStatus.BAD_GATEWAY, str(exc))
        return None

    def _open(self, request: _ProxyRequest, addresses: list[str]) -> _Opening | None:
        via = self.proxy._upstream
        if via is None:
            return self._open_direct(request, addresses)
        try:
            return self._open_through(via, request, addresses)
        except (_UpstreamFailure, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            logger.warning(
                "egress upstream proxy %s failed for %s:%d: %s",
                via,
                request.host,
                request.port,
                detail,
            )
            self.proxy._note_unreachable(
                Unreachable(
                    request.host,
                    request.port,
                    "proxy_failed",
                    f"The proxy set in YTDLP_PROXY failed: {detail}.",
                )
            )
            self._answer(HTTPStatus.BAD_GATEWAY, f"upstream proxy failed: {detail}")
            return None

    def _open_direct(self, request: _ProxyRequest, addresses: list[str]) -> _Opening | None:
        self.upstream = self._connect_any(request, addresses)
        if self.upstream is None:
            return None
        if request.tunnel:
            return _Opening(to_client=_ESTABLISHED)
        return _Opening(to_upstream=request.head(request.origin))

    def _open_through(
        self, via: _UpstreamProxy, request: _ProxyRequest, addresses: list[str]
    ) -> _Opening:
        deadline = time.monotonic() + self.proxy.connect_timeout
        # What the upstream can reach is up to its network, and IPv4 is what proxies
        # reliably route; a stable sort keeps the resolver's order within each family.
        addresses = sorted(addresses, key=lambda address: ":" in address)
        if not request.tunnel:
            self.upstream = self._connect_upstream(via, deadline)
            target = f"http://{_authority(addresses[0], request.port)}{request.origin}"
            return _Opening(to_upstream=request.head(target, via.credentials))
        for address in addresses:
            self.upstream = self._connect_upstream(via, deadline)
            status, leftover = self._ask_tunnel(via, _authority(address, request.port), deadline)
            if 200 <= status < 300:
                return _Opening(to_client=_ESTABLISHED + leftover)
            self._drop_upstream()
            if status not in _GATEWAY_FAILURES:
                break
        raise _UpstreamFailure(f"CONNECT answered {_describe_status(status)}")

    def _connect_upstream(self, via: _UpstreamProxy, deadline: float) -> socket.socket:
        try:
            infos = socket.getaddrinfo(via.host, via.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise _UpstreamFailure(f"cannot resolve {via.host}: {exc}") from exc
        if self.proxy._stopping.is_set():
            raise _Stopped
        failure = f"{via.host} has no addresses"
        for address in dict.fromkeys(str(info[4][0]) for info in infos):
            try:
                return self._connect(address, via.port, deadline)
            except TimeoutError as exc:
                raise _UpstreamFailure(f"connecting to {via} timed out") from exc
            except OSError as exc:
                failure = f"cannot connect to {via}: {exc.strerror or exc}"
        raise _UpstreamFailure(failure)

    def _ask_tunnel(
        self, via: _UpstreamProxy, authority: str, deadline: float
    ) -> tuple[int, bytes]:
        """Send CONNECT to the upstream proxy; its status and any bytes past its answer."""
        assert self.upstream is not None
        start = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}".encode("ascii")
        self._send_all(self.upstream, b"\r\n".join([start, *via.credentials]) + _HEAD_END, deadline)
        try:
            head, leftover = self._receive_head(self.upstream, deadline)
        except _OversizedHead as exc:
            raise _UpstreamFailure("answer head larger than 64 KiB") from exc
        except TimeoutError as exc:
            raise _UpstreamFailure("no answer to CONNECT in time") from exc
        status = _STATUS_LINE.fullmatch(head.partition(b"\r\n")[0])
        if status is None:
            raise _UpstreamFailure("malformed answer to CONNECT")
        return int(status.group(1)), leftover

    def _drop_upstream(self) -> None:
        if self.upstream is not None:
            self._register(self.upstream, 0)
            self.upstream.close()
            self.upstream = None

    def _connect_any(self, request: _ProxyRequest, addresses: list[str]) -> socket.socket | None:
        deadline = time.monotonic() + self.proxy.connect_timeout
        failure = "no address to connect to"
        error, last = OSError(errno.EHOSTUNREACH, failure), request.host
        for address in addresses:
            try:
                return self._connect(address, request.port, deadline)
            except TimeoutError as exc:
                self._note_connect_failure(request, address, exc)
                self._answer(HTTPStatus.GATEWAY_TIMEOUT, f"connecting to {address} timed out")
                return None
            except OSError as exc:
                failure = f"cannot connect to {address}: {exc.strerror or exc}"
                error, last = exc, address
        self._note_connect_failure(request, last, error)
        self._answer(HTTPStatus.BAD_GATEWAY, failure)
        return None

    def _note_connect_failure(self, request: _ProxyRequest, address: str, exc: OSError) -> None:
        self.proxy._note_unreachable(
            _connect_failure(request.host, address, request.port, exc, self.proxy.connect_timeout)
        )

    def _connect(self, address: str, port: int, deadline: float) -> socket.socket:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            code = sock.connect_ex((address, port))
            if code == errno.EINPROGRESS:
                self._wait(sock, _WRITE, deadline)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, errno.errorcode.get(code, str(code)))
        except BaseException:
            self._register(sock, 0)
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _relay(self, request: _ProxyRequest, early: bytes, opening: _Opening) -> None:
        assert self.upstream is not None
        outbound = _Flow(self.client, self.upstream, pending=opening.to_upstream)
        inbound = _Flow(self.upstream, self.client, pending=opening.to_client)
        if request.tunnel:
            outbound.pending += early
        else:
            # Bytes past the declared body would be a second, unchecked request: drop them.
            body = early[: request.body_length]
            outbound.pending += body
            outbound.allowance = request.body_length - len(body)
            inbound.heads = _ResponseHeads()
        # The request body is short and capped, so only tunnels send out through a pipe.
        spliced = (outbound, inbound) if request.tunnel else (inbound,)
        try:
            if self.proxy.zero_copy and all(_spliceable(flow) for flow in spliced):
                for flow in spliced:
                    flow.pipe = _Pipe.open()
            while not (inbound.done and (outbound.done or not request.tunnel)):
                self._step((outbound, inbound))
        finally:
            for flow in spliced:
                if flow.pipe is not None:
                    flow.pipe.close()

    def _step(self, flows: tuple[_Flow, _Flow]) -> None:
        wanted: dict[socket.socket, int] = {}
        for flow in flows:
            if flow.holding:
                wanted[flow.sink] = wanted.get(flow.sink, 0) | _WRITE
            elif not flow.ended:
                wanted[flow.source] = wanted.get(flow.source, 0) | _READ
        ready = self._select(wanted, self.proxy.idle_timeout)
        if not ready:
            raise TimeoutError(f"no traffic for {self.proxy.idle_timeout:g} s")
        for sock, events in ready:
            for flow in flows:
                if events & _READ and sock is flow.source and not flow.holding:
                    _pull(flow)
                if events & _WRITE and sock is flow.sink and flow.holding:
                    _push(flow)

    def _wait(self, sock: socket.socket, events: int, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._select({sock: events}, remaining):
            raise TimeoutError("timed out")

    def _select(
        self, wanted: dict[socket.socket, int], timeout: float
    ) -> list[tuple[socket.socket, int]]:
        for sock in set(self.interest) | set(wanted):
            self._register(sock, wanted.get(sock, 0))
        ready: list[tuple[socket.socket, int]] = []
        for key, events in self.selector.select(timeout):
            if key.fileobj is self.proxy._wake_reader:
                raise _Stopped
            assert isinstance(key.fileobj, socket.socket)
            ready.append((key.fileobj, events))
        return ready

    def _register(self, sock: socket.socket, events: int) -> None:
        current = self.interest.get(sock, 0)
        if events == current:
            return
        if not events:
            self.selector.unregister(sock)
            del self.interest[sock]
        elif not current:
            self.selector.register(sock, events)
            self.interest[sock] = events
        else:
            self.selector.modify(sock, events)
            self.interest[sock] = events

    def _answer(
        self,
        status: HTTPStatus,
        message: str,
        *,
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        body = f"{message}\n".encode()
        lines = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in extra_headers),
        ]
        response = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self._send_all(self.client, response, time.monotonic() + self.proxy.connect_timeout)
        self.aborted = False

    def _send_all(self, sock: socket.socket, data: bytes, deadline: float) -> None:
        while data:
            self._wait(sock, _WRITE, deadline)
            try:
                data = data[sock.send(data) :]
            except BlockingIOError:
                continue


def _connect_failure(
    host: str, address: str, port: int, exc: OSError, timeout: float
) -> Unreachable:
    """Why connecting to ``address`` (``host``'s) failed, as a code and a sentence."""
    where = host if host == address else f"{host} ({address})"
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        message = f"Connecting to {where} on port {port} timed out after {timeout:g} s."
        return Unreachable(host, port, "connect_timeout", message)
    if exc.errno == errno.ECONNREFUSED:
        message = f"{where} refused the connection on port {port}: nothing listens there."
        return Unreachable(host, port, "connection_refused", message)
    if exc.errno in _UNREACHABLE_ERRNOS:
        message = f"No network route to {where}: {exc.strerror or exc}."
        return Unreachable(host, port, "network_unreachable", message)
    message = f"Cannot connect to {where} on port {port}: {exc.strerror or exc}."
    return Unreachable(host, port, "network_error", message)


def _spliceable(flow: _Flow) -> bool:
    # Only plain sockets: an SSLSocket's descriptor carries the ciphertext.
    return type(flow.source) is socket.socket and type(flow.sink) is socket.socket


def _pull(flow: _Flow) -> None:
    if flow.splicing:
        _splice_in(flow)
        return
    data = _recv(flow.source)
    if data is None:
        return
    if not data:
        flow.ended = True
        flow.pending = flow.heads.flush() if flow.heads else b""
    elif flow.allowance is not None:
        flow.pending = data[: flow.allowance]
        flow.allowance -= len(flow.pending)
    else:
        flow.pending = flow.heads.feed(data) if flow.heads else data
    if flow.pending:
        # Usually the sink can take the chunk right away, which saves a trip through select.
        _push(flow)
    elif flow.ended:
        _shutdown_write(flow.sink)


def _push(flow: _Flow) -> None:
    if flow.pending:
        try:
            sent = flow.sink.send(flow.pending)
        except BlockingIOError:
            return
        flow.pending = flow.pending[sent:]
    elif flow.pipe is not None:
        _splice_out(flow, flow.pipe)
    if flow.done:
        _shutdown_write(flow.sink)


def _splice_in(flow: _Flow) -> None:
    """Move what the source has buffered into the (empty) pipe, and on to the sink; again
    while the sink takes it all and the source has more, a few times before the next select."""
    for _ in range(_SPLICE_ROUNDS):
        pipe = flow.pipe
        assert pipe is not None
        try:
            count = os.splice(flow.source.fileno(), pipe.writer, PIPE_SIZE, flags=_SPLICE_FLAGS)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno not in _NO_SPLICE_ERRNOS:
                raise
            flow.stop_splicing()
            _pull(flow)
            return
        if not count:
            flow.ended = True
            _shutdown_write(flow.sink)
            return
        pipe.carried(count)
        _push(flow)
        if flow.holding or flow.pipe is None:
            return


def _splice_out(flow: _Flow, pipe: _Pipe) -> None:
    try:
        pipe.filled -= os.splice(pipe.reader, flow.sink.fileno(), pipe.filled, flags=_SPLICE_FLAGS)
    except BlockingIOError:
        return
    except OSError as exc:
        if exc.errno not in _NO_SPLICE_ERRNOS:
            raise
        flow.stop_splicing()
        _push(flow)


def _recv(sock: socket.socket) -> bytes | None:
    try:
        return sock.recv(BUFFER_SIZE)
    except BlockingIOError:
        return None


def _shutdown_write(sock: socket.socket) -> None:
    # The peer may already be gone; the relay notices that on its next read or write.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _close(sock: socket.socket, *, reset: bool) -> None:
    if reset:
        # SO_LINGER 0 turns close() into a reset, so the client sees an error instead of
        # an end of stream it could take for a complete (unsized) body.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _parse_request(head: bytes) -> _ProxyRequest:
    lines = head[: -len(_HEAD_END)].split(b"\r\n")
    method, target, version = _parse_request_line(lines[0])
    headers = [_parse_header(line) for line in lines[1:]]
    if method == "CONNECT":
        host, port = _parse_authority(target)
        return _ProxyRequest(host=host, port=port, tunnel=True)
    host, port, authority, origin = _parse_absolute_target(target)
    return _ProxyRequest(
        host=host,
        port=port,
        tunnel=False,
        method=method,
        origin=origin,
        version=version,
        fields=_forwarded_fields(authority, headers),
        body_length=_body_length(headers),
    )


def _parse_request_line(line: bytes) -> tuple[str, str, str]:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError as exc:
        raise _BadRequest("non-ASCII request line") from exc
    parts = text.split(" ")
    if len(parts) != 3:
        raise _BadRequest("malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target) or version not in _VERSIONS:
        raise _BadRequest("malformed request line")
    return method, target, version


def _parse_header(line: bytes) -> tuple[str, bytes]:
    name, colon, _ = line.partition(b":")
    if not colon or any(byte in line for byte in b"\r\n\x00"):
        raise _BadRequest("malformed header line")
    try:
        text = name.decode("ascii")
    except UnicodeDecodeError as exc:
        raise _BadRequest("malformed header name") from exc
    # Also rejects obsolete line folding, whose continuation lines start with whitespace.
    if not _TOKEN.fullmatch(text):
        raise _BadRequest("malformed header name")
    return text.lower(), line


def _parse_authority(target: str) -> tuple[str, int]:
    host, colon, port_text = target.rpartition(":")
    if not colon or not _PORT.fullmatch(port_text):
        raise _BadRequest("CONNECT needs host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise _BadRequest("malformed IPv6 address")
    elif ":" in host:
        raise _BadRequest("IPv6 addresses need brackets")
    if not host or any(char in host for char in "/@?#[]\\"):
        raise _BadRequest("malformed CONNECT host")
    return host, _valid_port(int(port_text))


def _parse_absolute_target(target: str) -> tuple[str, int, str, str]:
    if target[:7].lower() != "http://":
        raise _BadRequest("only absolute http:// targets and CONNECT are proxied")
    try:
        parts = urlsplit(target)
    except ValueError as exc:
        raise _BadRequest("malformed target URL") from exc
    if "@" in parts.netloc or "\\" in parts.netloc or not parts.hostname:
        raise _BadRequest("malformed target host")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise _BadRequest("malformed target port") from exc
    path = parts.path or "/"
    if not path.startswith("/"):
        raise _BadRequest("malformed target path")
    origin = f"{path}?{parts.query}" if parts.query else path
    return parts.hostname, _valid_port(port), parts.netloc, origin


def _valid_port(port: int) -> int:
    if not 0 < port < 65536:
        raise _BadRequest("port out of range")
    return port


def _body_length(headers: list[tuple[str, bytes]]) -> int:
    if any(name == "transfer-encoding" for name, _ in headers):
        # Chunked request bodies would need parsing to find their end; yt-dlp never sends them.
        raise _BadRequest("Transfer-Encoding in requests is not supported")
    values = {_header_value(line) for name, line in headers if name == "content-length"}
    if not values:
        return 0
    if len(values) > 1:
        raise _BadRequest("conflicting Content-Length headers")
    (value,) = values
    if not _DIGITS.fullmatch(value):
        raise _BadRequest("malformed Content-Length")
    return int(value)


def _forwarded_fields(authority: str, headers: list[tuple[str, bytes]]) -> bytes:
    named_hop_by_hop = {
        token.strip().lower()
        for name, line in headers
        if name in ("connection", "proxy-connection")
        for token in _header_value(line).split(",")
    } - _FRAMING_HEADERS
    kept = [
        line
        for name, line in headers
        if name not in _DROPPED_HEADERS and name not in named_hop_by_hop
    ]
    host = f"Host: {authority}".encode("ascii")
    return b"\r\n".join([host, *kept, b"Connection: close"])


def _closing_response_head(head: bytes) -> bytes:
    status_line, *header_lines = head.split(b"\r\n")
    kept = [
        line
        for line in header_lines
        if line.partition(b":")[0].strip().lower() not in _CONNECTION_HEADERS
    ]
    return b"\r\n".join([status_line, *kept, b"Connection: close"]) + _HEAD_END


def _is_interim(head: bytes) -> bool:
    parts = head.split(b" ", 2)
    return len(parts) > 1 and parts[1].startswith(b"1") and parts[1] != b"101"


def _header_value(line: bytes) -> str:
    return line.partition(b":")[2].strip().decode("latin-1")


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe_status(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _parse_upstream(url: str) -> _UpstreamProxy:
    # Messages never quote the URL: it may carry the upstream proxy's password.
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the upstream proxy URL is malformed (bad port or brackets)") from None
    if parts.scheme in _UNSUPPORTED_SCHEMES:
        raise ValueError(f"{parts.scheme}:// upstream proxies are not supported; use http://")
    if parts.scheme != "http":
        raise ValueError("the upstream proxy URL must start with http://")
    host = parts.hostname
    if not host or not _TARGET.fullmatch(host):
        raise ValueError("the upstream proxy URL needs a host (ASCII, IDNA-encoded)")
    if not port:
        raise ValueError("the upstream proxy URL needs an explicit port, as in http://host:3128")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("the upstream proxy URL cannot have a path, query or fragment")
    return _UpstreamProxy(host, port, _proxy_credentials(parts.username, parts.password))


def _proxy_credentials(username: str | None, password: str | None) -> tuple[bytes, ...]:
    if username is None:
        return ()
    user = unquote(username)
    if ":" in user:
        raise ValueError("the upstream proxy user name cannot contain ':'")
    token = base64.b64encode(f"{user}:{unquote(password or '')}".encode())
    return (b"Proxy-Authorization: Basic " + token,)
