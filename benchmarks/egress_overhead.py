"""What the per-job egress proxy costs: the same body fetched directly and through it.

Starts an origin server and the egress proxy (`app.security.egress`) in processes of their
own, then downloads `--megabytes` from the origin over loopback, in turn: directly, through
the proxy as a plain HTTP request (absolute URI, as yt-dlp sends for http://), and through
a CONNECT tunnel (as for https://). The client is a raw socket reading into one buffer, so
the measure is as strict as it gets: a real downloader spends more per byte and the relay
weighs less beside it.

Wall time on a shared machine is noisy, so each mode keeps its best of `--runs` interleaved
runs. The proxy's CPU time per download, read from /proc, hardly depends on the machine's
load; its baseline is the CPU the client itself spends reading the bytes directly.
`--copy-relay` also measures the proxy with its zero-copy relay turned off.

    .venv/bin/python -m benchmarks.egress_overhead
    .venv/bin/python -m benchmarks.egress_overhead --megabytes 320 --runs 7 --copy-relay
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from benchmarks.processes import PROJECT_ROOT, cpu_seconds

HEAD_END = b"\r\n\r\n"
CHUNK = 1024 * 1024


def serve_origin(size: int) -> None:
    """Answer every GET on a loopback port with `size` bytes; print the port."""
    body = os.urandom(4 * CHUNK)
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    print(listener.getsockname()[1], flush=True)

    def answer(conn: socket.socket) -> None:
        with conn, suppress(OSError):  # a client may hang up early (yt-dlp's probe does)
            received = b""
            while HEAD_END not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {size}\r\n"
                "Connection: close\r\n\r\n"
            )
            conn.sendall(head.encode())
            view, left = memoryview(body), 0 if received.startswith(b"HEAD ") else size
            while left:
                left -= conn.send(view[: min(left, len(view))])

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


def serve_proxy(zero_copy: bool) -> None:
    """Run the egress proxy (loopback allowed) until stdin closes; print its URL."""
    from app.security.addresses import AddressPolicy
    from app.security.egress import EgressProxy

    policy = AddressPolicy(allowed_cidrs=(ipaddress.ip_network("127.0.0.0/8"),))
    options = {} if zero_copy else {"zero_copy": False}
    with EgressProxy(policy, **options) as proxy:  # type: ignore[arg-type]
        print(proxy.url, flush=True)
        sys.stdin.read()


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.egress_overhead", *args],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def read_head(sock: socket.socket) -> bytes:
    received = b""
    while HEAD_END not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a complete head")
        received += chunk
    head, _, rest = received.partition(HEAD_END)
    if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        raise ConnectionError(head.decode("latin-1"))
    return rest


def download(origin_port: int, proxy: tuple[str, int] | None, tunnel: bool) -> int:
    """Fetch the body; the number of body bytes read."""
    authority = f"127.0.0.1:{origin_port}"
    with socket.create_connection(proxy or ("127.0.0.1", origin_port)) as sock:
        if proxy and tunnel:
            sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
            if read_head(sock):
                raise ConnectionError("bytes before the tunnelled response")
        target = f"http://{authority}/" if proxy and not tunnel else "/"
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        received = len(read_head(sock))
        buffer = bytearray(CHUNK)
        while count := sock.recv_into(buffer):
            received += count
        return received


def measure(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    size = args.megabytes * CHUNK
    origin, origin_port = start("--origin", str(size))
    proxies = {"relay": start("--proxy")}
    if args.copy_relay:
        proxies["copy_relay"] = start("--proxy", "--copy-relay")
    modes: dict[str, tuple[str | None, bool]] = {"direct": (None, False)}
    for name in proxies:
        modes[f"{name}_http"] = (name, False)
        modes[f"{name}_connect"] = (name, True)
    wall: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for run in range(args.runs + 1):  # the first round warms up and is not kept
            for mode, (proxy_name, tunnel) in modes.items():
                process = proxies[proxy_name][0] if proxy_name else None
                address = None
                if proxy_name:
                    host, _, port = proxies[proxy_name][1].rpartition(":")
                    address = (host.removeprefix("http://"), int(port))
                before = cpu_seconds(process.pid) if process else time.process_time()
                started = time.perf_counter()
                received = download(int(origin_port), address, tunnel)
                elapsed = time.perf_counter() - started
                after = cpu_seconds(process.pid) if process else time.process_time()
                if received != size:
                    raise SystemExit(f"{mode}: {received} bytes instead of {size}")
                if run:
                    wall[mode].append(elapsed)
                    cpu[mode].append(after - before)
    finally:
        for process, _ in [*proxies.values(), (origin, "")]:
            assert process.stdin is not None
            process.stdin.close()
            process.terminate()
            process.wait(10)
    return {
        mode: {"wall_s": min(wall[mode]), "cpu_s": sorted(cpu[mode])[len(cpu[mode]) // 2]}
        for mode in modes
    }


def measure_ytdlp(origin_port: int, size: int, runs: int) -> dict[str, dict[str, float]]:
    """yt-dlp's Python API downloading in this process, directly and through proxies that
    run as threads of the same process, as the worker runs them (they share its GIL)."""
    import yt_dlp

    from app.security.addresses import AddressPolicy
    from app.security.egress import EgressProxy

    policy = AddressPolicy(allowed_cidrs=(ipaddress.ip_network("127.0.0.0/8"),))
    url = f"http://127.0.0.1:{origin_port}/video.mp4"
    # A RAM-backed directory where there is one, so the disk stays out of the ratio.
    scratch = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with (
        EgressProxy(policy) as relay,
        EgressProxy(policy, zero_copy=False) as copy_relay,
        tempfile.TemporaryDirectory(prefix="yds-egress-", dir=scratch) as home,
    ):
        proxies = {"direct": "", "relay": relay.url, "copy_relay": copy_relay.url}
        wall: dict[str, list[float]] = {name: [] for name in proxies}
        for run in range(runs + 1):
            for name, proxy in proxies.items():
                options: dict[str, Any] = {
                    "proxy": proxy,
                    "quiet": True,
                    "noprogress": True,
                    "cachedir": False,
                    "paths": {"home": home},
                    "outtmpl": "video.%(ext)s",
                }
                started = time.perf_counter()
                with yt_dlp.YoutubeDL(options) as ydl:
                    ydl.download([url])
                elapsed = time.perf_counter() - started
                target = Path(home) / "video.mp4"
                if target.stat().st_size != size:
                    raise SystemExit(f"yt-dlp {name}: {target.stat().st_size} bytes")
                target.unlink()
                if run:
                    wall[name].append(elapsed)
    return {name: {"wall_s": min(times)} for name, times in wall.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=320)
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs of each mode")
    parser.add_argument("--copy-relay", action="store_true", help="also without zero-copy")
    parser.add_argument("--origin", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--proxy", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.origin:
        serve_origin(args.origin)
        return
    if args.proxy:
        serve_proxy(zero_copy=not args.copy_relay)
        return
    results = measure(args)
    origin, origin_port = start("--origin", str(args.megabytes * CHUNK))
    try:
        ytdlp = measure_ytdlp(int(origin_port), args.megabytes * CHUNK, args.runs)
    finally:
        assert origin.stdin is not None
        origin.stdin.close()
        origin.terminate()
        origin.wait(10)
    direct = results["direct"]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.megabytes} MB a download, best of {args.runs}")  # fmt: skip
    print("name ratio baseline service")
    for mode, figures in results.items():
        if mode == "direct":
            continue
        print(f"egress_{mode}_wall {figures['wall_s'] / direct['wall_s']:.3f} "
              f"{direct['wall_s']:.3f}s {figures['wall_s']:.3f}s")  # fmt: skip
        print(f"egress_{mode}_cpu {figures['cpu_s'] / direct['cpu_s']:.3f} "
              f"{direct['cpu_s']:.3f}s {figures['cpu_s']:.3f}s")  # fmt: skip
    for mode in ("relay", "copy_relay"):
        ratio = ytdlp[mode]["wall_s"] / ytdlp["direct"]["wall_s"]
        print(f"egress_ytdlp_{mode}_wall {ratio:.3f} "
              f"{ytdlp['direct']['wall_s']:.3f}s {ytdlp[mode]['wall_s']:.3f}s")  # fmt: skip
    summary = {
        "benchmark": "egress_overhead",
        "megabytes": args.megabytes,
        "modes": results,
        "ytdlp": ytdlp,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
