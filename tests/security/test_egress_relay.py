"""The egress proxy's relay: large bodies arrive byte for byte, through plain HTTP and CONNECT
tunnels, whether the bytes move by splice(2) or are copied, and a peer that resets in the
middle of a body ends the relay without leaving a thread or a descriptor behind.

127.0.0.2 plays a public origin (allowed through ``allowed_cidrs``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.security.addresses import AddressPolicy
from app.security.egress import BUFFER_SIZE, PIPE_SIZE, EgressProxy

ORIGIN_HOST = "127.0.0.2"
POLICY = AddressPolicy(allowed_cidrs=(ipaddress.ip_network(f"{ORIGIN_HOST}/32"),))
BODY = random.Random(4).randbytes(12_000_000)
HEAD_END = b"\r\n\r\n"
needs_splice = pytest.mark.skipif(not hasattr(os, "splice"), reason="splice(2) is Linux-only")


class _Origin:
    """A one-connection origin on the public address, running ``behaviour`` on the socket
    once a head has arrived (with the bytes that came after it); ``failure`` is what ended
    it early, if anything."""

    def __init__(self, behaviour: Callable[[socket.socket, bytes], None]) -> None:
        self._listener = socket.create_server((ORIGIN_HOST, 0))
        self._listener.settimeout(10)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://{ORIGIN_HOST}:{self.port}/file"
        self.failure: OSError | None = None
        self._behaviour = behaviour
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self._listener, self._listener.accept()[0] as connection:
            connection.settimeout(10)
            try:
                received = b""
                while HEAD_END not in received:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                self._behaviour(connection, received.partition(HEAD_END)[2])
            except OSError as exc:
                self.failure = exc

    def join(self) -> None:
        self._thread.join(10)
        assert not self._thread.is_alive()


def _send_body(connection: socket.socket, _: bytes) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\nConnection: keep-alive\r\n\r\n"
    connection.sendall(head.encode() + BODY)


def _reset_mid_body(connection: socket.socket, _: bytes) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n"
    connection.sendall(head.encode() + BODY[:1_000_000])
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _send_without_end(connection: socket.socket, _: bytes) -> None:
    """Announce a body of a terabyte and send it until the connection breaks."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
    while True:
        connection.sendall(BODY)


def _echo(connection: socket.socket, early: bytes) -> None:
    """Echo every byte after the head until the client ends its side, then end ours."""
    connection.sendall(early)
    while chunk := connection.recv(1 << 20):
        connection.sendall(chunk)


@pytest.fixture(params=[True, False], ids=["splice", "copy"])
def zero_copy(request: pytest.FixtureRequest) -> bool:
    if request.param and not hasattr(os, "splice"):
        pytest.skip("splice(2) is Linux-only")
    return bool(request.param)


@pytest.fixture
def proxy(zero_copy: bool) -> Iterator[EgressProxy]:
    with EgressProxy(POLICY, zero_copy=zero_copy) as running:
        yield running


@pytest.fixture
def public_proxy() -> Iterator[EgressProxy]:
    with EgressProxy(POLICY) as running:
        yield running


@pytest.fixture
def splice_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many bytes each splice(2) call moved, in order (the real call is made)."""
    moved: list[int] = []
    real = getattr(os, "splice", None)

    def counting(*args: Any, **kwargs: Any) -> int:
        assert real is not None
        count = int(real(*args, **kwargs))
        moved.append(count)
        return count

    if real is not None:
        monkeypatch.setattr(os, "splice", counting)
    return moved


def _connect(proxy: EgressProxy) -> socket.socket:
    port = int(proxy.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _open_tunnel(client: socket.socket, origin: _Origin) -> None:
    client.sendall(f"CONNECT {ORIGIN_HOST}:{origin.port} HTTP/1.1\r\n\r\n".encode())
    answer = b""
    while HEAD_END not in answer:
        answer += client.recv(1)
    assert answer.startswith(b"HTTP/1.1 200 Connection established")


def _fetch(proxy: EgressProxy, origin: _Origin, *, tunnel: bool) -> tuple[bytes, bytes]:
    """The response head and body, read until the proxy closes."""
    with _connect(proxy) as client:
        if tunnel:
            _open_tunnel(client, origin)
            client.sendall(b"GET /file HTTP/1.1\r\nHost: origin\r\n\r\n")
        else:
            client.sendall(f"GET {origin.url} HTTP/1.1\r\nHost: origin\r\n\r\n".encode())
        received = bytearray()
        while chunk := client.recv(1 << 20):
            received += chunk
    head, _, body = bytes(received).partition(HEAD_END)
    return head, body


def _connection_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "egress-proxy-connection"]


def _open_descriptors() -> set[tuple[str, str]]:
    """Each open descriptor with what it points at (a socket's inode, a pipe's).

    Compared as sets, not counted: the garbage collector may close a socket an earlier test
    dropped while this one runs, and a count would read that as this test's doing.
    """
    found = set()
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            found.add((name, os.readlink(f"/proc/self/fd/{name}")))
    return found


def _settled_descriptors(proxy: EgressProxy) -> set[tuple[str, str]]:
    """Open descriptors once the proxy has served a connection (so its accept loop has
    everything it keeps open) and no connection is open."""
    with _connect(proxy) as client:
        client.sendall(b"nonsense" + HEAD_END)
        assert client.recv(1024).startswith(b"HTTP/1.1 400 ")
    for thread in _connection_threads():
        thread.join(10)
    return _open_descriptors()


@pytest.mark.parametrize("tunnel", [False, True], ids=["http", "connect"])
def test_a_large_body_arrives_intact(
    proxy: EgressProxy, zero_copy: bool, tunnel: bool, splice_calls: list[int]
) -> None:
    origin = _Origin(_send_body)

    head, body = _fetch(proxy, origin, tunnel=tunnel)

    assert body == BODY
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    if not tunnel:
        assert head.lower().endswith(b"\r\nconnection: close")
    # The splice path carries the body (all but what came with the head), the copy path none.
    if zero_copy:
        assert sum(splice_calls) >= 2 * (len(BODY) - BUFFER_SIZE)
    else:
        assert splice_calls == []
    origin.join()


def _send_interim_then_body(connection: socket.socket, _: bytes) -> None:
    connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    _send_body(connection, b"")


def test_the_final_head_after_an_interim_one_is_rewritten_before_the_body_flows(
    proxy: EgressProxy,
) -> None:
    origin = _Origin(_send_interim_then_body)

    interim, rest = _fetch(proxy, origin, tunnel=False)
    final, _, body = rest.partition(HEAD_END)

    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"keep-alive" not in final.lower()
    assert final.lower().endswith(b"\r\nconnection: close")
    assert body == BODY
    origin.join()


def test_a_tunnel_carries_both_directions_at_once_intact(
    proxy: EgressProxy, zero_copy: bool, splice_calls: list[int]
) -> None:
    origin = _Origin(_echo)
    echoed = bytearray()

    with _connect(proxy) as client:
        _open_tunnel(client, origin)

        def read_back() -> None:
            while chunk := client.recv(1 << 20):
                echoed.extend(chunk)

        reader = threading.Thread(target=read_back)
        reader.start()
        client.sendall(b"ECHO" + HEAD_END + BODY)
        # The end of the client's side travels through to the origin, and the origin's back.
        client.shutdown(socket.SHUT_WR)
        reader.join(20)

    assert not reader.is_alive()
    assert bytes(echoed) == BODY
    if zero_copy:
        assert sum(splice_calls) >= 4 * len(BODY)
    else:
        assert splice_calls == []
    origin.join()


@needs_splice
@pytest.mark.parametrize("tunnel", [False, True], ids=["http", "connect"])
def test_bytes_in_the_pipe_survive_a_fallback_to_copying(
    tunnel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When splice(2) refuses to write to the client, what the pipe holds is copied on."""
    real = os.splice
    refusals: list[int] = []

    def refusing_to_sockets(source: int, sink: int, count: int, *args: Any, **kw: Any) -> int:
        is_socket = Path(f"/proc/self/fd/{sink}").readlink().name.startswith("socket:")
        if is_socket and not refusals:
            refusals.append(count)
            raise OSError(errno.EINVAL, "splice refused")
        return int(real(source, sink, count, *args, **kw))

    monkeypatch.setattr(os, "splice", refusing_to_sockets)
    origin = _Origin(_send_body)

    with EgressProxy(POLICY) as proxy:
        _, body = _fetch(proxy, origin, tunnel=tunnel)

    assert refusals and refusals[0] > 0
    assert body == BODY
    origin.join()


@pytest.mark.parametrize("tunnel", [False, True], ids=["http", "connect"])
def test_an_origin_reset_mid_body_ends_the_relay_cleanly(proxy: EgressProxy, tunnel: bool) -> None:
    descriptors = _settled_descriptors(proxy)
    origin = _Origin(_reset_mid_body)
    received = bytearray()

    with _connect(proxy) as client:
        if tunnel:
            _open_tunnel(client, origin)
            client.sendall(b"GET /file HTTP/1.1\r\nHost: origin\r\n\r\n")
        else:
            client.sendall(f"GET {origin.url} HTTP/1.1\r\nHost: origin\r\n\r\n".encode())
        # The client sees a reset, never an end of stream it could take for a whole body.
        with pytest.raises(ConnectionResetError):
            while chunk := client.recv(1 << 20):
                received += chunk
    origin.join()
    for thread in _connection_threads():
        thread.join(10)

    assert len(received) < len(BODY)
    assert _connection_threads() == []
    assert _open_descriptors() - descriptors == set(), "a descriptor the relay opened"


@pytest.mark.parametrize("tunnel", [False, True], ids=["http", "connect"])
def test_a_client_reset_mid_body_ends_the_relay_and_the_origin_connection(
    proxy: EgressProxy, tunnel: bool
) -> None:
    descriptors = _settled_descriptors(proxy)
    origin = _Origin(_send_without_end)

    with _connect(proxy) as client:
        if tunnel:
            _open_tunnel(client, origin)
            client.sendall(b"GET /file HTTP/1.1\r\nHost: origin\r\n\r\n")
        else:
            client.sendall(f"GET {origin.url} HTTP/1.1\r\nHost: origin\r\n\r\n".encode())
        assert client.recv(1 << 20)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    origin.join()
    for thread in _connection_threads():
        thread.join(10)

    # The origin's send failed: the proxy closed its side rather than drain the body.
    assert isinstance(origin.failure, ConnectionError)
    assert _connection_threads() == []
    assert _open_descriptors() - descriptors == set(), "a descriptor the relay opened"


def _pipes() -> dict[int, int]:
    """This process's pipe descriptors, and the capacity of each."""
    pipes = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own descriptor
            if os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                pipes[int(name)] = fcntl.fcntl(int(name), fcntl.F_GETPIPE_SZ)
    return pipes


@needs_splice
def test_only_a_flow_that_proves_large_takes_a_large_pipe(public_proxy: EgressProxy) -> None:
    """Pipes count against the user's quota, past which every new pipe of the user's (ffmpeg's
    too) is cut to a few pages: a tunnel that has carried little keeps default-size pipes."""
    before = _pipes()
    origin = _Origin(_echo)

    with _connect(public_proxy) as client:
        _open_tunnel(client, origin)
        client.sendall(b"ECHO" + HEAD_END + b"hello")
        assert client.recv(5) == b"hello"
        relay_pipes = _pipes().keys() - before.keys()
        small = [_pipes()[fd] for fd in relay_pipes]

        received = bytearray()
        reader = threading.Thread(
            target=lambda: received.extend(_read_all(client, len(BODY))), daemon=True
        )
        reader.start()
        client.sendall(BODY)
        reader.join(20)
        large = [_pipes()[fd] for fd in relay_pipes]

    assert bytes(received) == BODY
    assert len(small) == 4  # a pipe each way, each with two ends
    assert max(small) <= 64 * 1024
    assert max(large) == PIPE_SIZE
    origin.join()


def _read_all(client: socket.socket, size: int) -> bytes:
    received = bytearray()
    while len(received) < size and (chunk := client.recv(1 << 20)):
        received += chunk
    return bytes(received)
