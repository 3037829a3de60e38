"""What the per-job egress proxy costs: the same body fetched directly and through it.

Starts an origin server on loopback that answers every GET with `--megabytes`, then, in
`--runs` interleaved rounds (after one warm-up round), measures two things:

- yt-dlp's Python API downloading the file in this process, directly and through egress
  proxies running as threads of the same process, as in the worker (they share its GIL):
  `egress_ytdlp_relay_wall` is the one with a target (at most 1.03); `_cpu` is the
  process's CPU time. `relay_process` runs the same proxy in a process of its own, which
  shows what sharing the GIL with yt-dlp costs.
- a raw socket client reading into one buffer, directly and through the proxy (run in a
  process of its own) as a plain HTTP request (absolute URI, as yt-dlp sends for http://)
  and through a CONNECT tunnel (as for https://). This is the strictest measure: the relay
  hop next to a client that does nothing else. The `_cpu` lines give the proxy's CPU time
  per download against the CPU the client spends reading the same bytes directly.

Wall times keep the best of the runs (the machine is shared); CPU times, which hardly
depend on the machine's load, the median. `copy_relay` is the proxy with its zero-copy
relay turned off (`EgressProxy(zero_copy=False)`), copying the bytes through Python.

    .venv/bin/python -m benchmarks.egress_overhead
    .venv/bin/python -m benchmarks.egress_overhead --megabytes 320 --runs 9 --copy-relay
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
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from benchmarks.processes import PROJECT_ROOT, cpu_seconds

HEAD_END = b"\r\n\r\n"
# mode -> {"wall_s": best wall time, "cpu_s": median CPU time}
Figures = dict[str, dict[str, float]]
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
    with EgressProxy(policy, zero_copy=zero_copy) as proxy:
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


def best_and_median(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> Figures:
    return {
        mode: {"wall_s": min(wall[mode]), "cpu_s": sorted(cpu[mode])[len(cpu[mode]) // 2]}
        for mode in wall
    }


def measure_raw(origin_port: int, args: argparse.Namespace) -> Figures:
    """The raw socket client, directly and through proxies in processes of their own."""
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
                received = download(origin_port, address, tunnel)
                elapsed = time.perf_counter() - started
                after = cpu_seconds(process.pid) if process else time.process_time()
                if received != args.megabytes * CHUNK:
                    raise SystemExit(f"{mode}: {received} bytes instead of {args.megabytes} MB")
                if run:
                    wall[mode].append(elapsed)
                    cpu[mode].append(after - before)
    finally:
        for process, _ in proxies.values():
            stop(process)
    return best_and_median(wall, cpu)


def measure_ytdlp(origin_port: int, args: argparse.Namespace) -> Figures:
    """yt-dlp's Python API downloading in this process, directly and through proxies that
    run as threads of the same process, as the worker runs them (they share its GIL)."""
    import yt_dlp

    from app.security.addresses import AddressPolicy
    from app.security.egress import EgressProxy

    policy = AddressPolicy(allowed_cidrs=(ipaddress.ip_network("127.0.0.0/8"),))
    url = f"http://127.0.0.1:{origin_port}/video.mp4"
    # A RAM-backed directory where there is one, so the disk stays out of the ratio.
    scratch = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="yds-egress-", dir=scratch))
        proxies = {"direct": "", "relay": stack.enter_context(EgressProxy(policy)).url}
        # The same relay in a process of its own: what the GIL it shares with yt-dlp costs.
        relay_process, proxies["relay_process"] = start("--proxy")
        stack.callback(stop, relay_process)
        if args.copy_relay:
            proxies["copy_relay"] = stack.enter_context(EgressProxy(policy, zero_copy=False)).url
        wall: dict[str, list[float]] = {name: [] for name in proxies}
        cpu: dict[str, list[float]] = {name: [] for name in proxies}
        for run in range(args.runs + 1):
            for name, proxy in proxies.items():
                options: dict[str, Any] = {
                    "proxy": proxy,
                    "quiet": True,
                    "noprogress": True,
                    "cachedir": False,
                    "paths": {"home": home},
                    "outtmpl": "video.%(ext)s",
                }
                started, cpu_before = time.perf_counter(), time.process_time()
                with yt_dlp.YoutubeDL(options) as ydl:
                    ydl.download([url])
                elapsed = time.perf_counter() - started
                cpu_spent = time.process_time() - cpu_before
                target = Path(home) / "video.mp4"
                if target.stat().st_size != args.megabytes * CHUNK:
                    raise SystemExit(f"yt-dlp {name}: {target.stat().st_size} bytes")
                target.unlink()
                if run:
                    wall[name].append(elapsed)
                    cpu[name].append(cpu_spent)
    return best_and_median(wall, cpu)


def stop(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.terminate()
    process.wait(10)


def report(prefix: str, figures: Figures) -> None:
    direct = figures["direct"]
    for mode, ours in figures.items():
        if mode != "direct":
            for kind in ("wall", "cpu"):
                base, service = direct[f"{kind}_s"], ours[f"{kind}_s"]
                print(f"{prefix}{mode}_{kind} {service / base:.3f} {base:.3f}s {service:.3f}s")


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
    origin, origin_port = start("--origin", str(args.megabytes * CHUNK))
    try:
        ytdlp = measure_ytdlp(int(origin_port), args)
        raw = measure_raw(int(origin_port), args)
    finally:
        stop(origin)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.megabytes} MB a download, best of {args.runs} (CPU: median)")  # fmt: skip
    print("name ratio baseline service")
    report("egress_ytdlp_", ytdlp)
    report("egress_raw_", raw)
    summary = {"benchmark": "egress_overhead", "megabytes": args.megabytes}
    print(json.dumps({**summary, "ytdlp": ytdlp, "raw": raw}))


if __name__ == "__main__":
    main()
