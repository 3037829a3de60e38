"""Live progress for many watchers on one API process: latency, event rate and memory.

Starts a private Redis, one API process (`python -m app.serve`, as in production) on a
fresh SQLite database, and opens N WebSocket clients spread over several client processes
on a few queued jobs. This process then publishes progress events for those jobs through
`app.jobs.events.publish` (what a worker calls) at the tracker's pace, 4 a second per job,
the jobs' events spread over each quarter second as independent downloads' are.
Each client measures publish→receive latency from the event's `emitted_at`.

The baseline, in the same run: one bare Redis subscriber on the same channels, receiving
the same events without the API in between. The ratio says what the API's fan-out adds.

    .venv/bin/python -m benchmarks.progress_fanout                  # 100, 1,000, 10,000
    .venv/bin/python -m benchmarks.progress_fanout --sockets 100 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

from app.jobs.events import ProgressEvent, events_channel, publish
from app.jobs.models import JobStage, JobStatus
from benchmarks.processes import (
    api_env,
    cpu_seconds,
    free_port,
    raise_file_limit,
    rss_kb,
    start_api,
    start_redis,
)

JOBS = 10
EVENTS_PER_SECOND = 4  # the tracker's pace during a download
OPENING_AT_ONCE = 1000  # handshakes in flight over all client processes (API_BACKLOG: 2048)


@dataclass
class Service:
    api: subprocess.Popen[bytes]
    redis_server: subprocess.Popen[bytes]
    base_url: str
    redis_url: str
    key: str


def start_service(workdir: Path, sockets: int, api_log: Path | None) -> Service:
    redis_server, redis_url = start_redis()
    port = free_port()
    env = api_env(
        f"sqlite+aiosqlite:///{workdir / 'app.db'}",
        redis_url,
        workdir,
        port,
        LOG_LEVEL="INFO" if api_log else "WARNING",
        # The default (4096) answers 503 beyond it; measuring more sockets needs more.
        API_LIMIT_CONCURRENCY=str(max(4096, sockets + 1024)),
    )
    log = api_log.open("ab") if api_log else None
    api, key = start_api(env, log=log)
    return Service(api, redis_server, f"http://127.0.0.1:{port}", redis_url, key)


def create_jobs(service: Service) -> list[str]:
    """Queued jobs (no worker runs them): their streams stay open while we publish."""
    ids = []
    with httpx.Client(base_url=service.base_url, headers={"X-API-Key": service.key}) as http:
        for number in range(JOBS):
            body = {"url": f"https://www.youtube.com/watch?v=bench{number:06d}"}
            response = http.post("/api/v1/downloads", json=body)
            response.raise_for_status()
            ids.append(response.json()["job_id"])
    return ids


@dataclass(frozen=True)
class ClientPlan:
    """What one client process opens: `count` sockets on `jobs` (in turn), at most
    `at_once` handshakes at a time."""

    ws_url: str
    key: str
    jobs: list[str]
    count: int
    at_once: int


def client_process(plan: ClientPlan, ready: object, go: object, out: object) -> None:
    """Open the plan's sockets, report when all are open, then record every event's latency
    until the stream closes; send (latencies in ms, events, seconds, failures) back."""
    raise_file_limit()
    asyncio.run(_clients(plan, ready, go, out))


class LeanSocket(asyncio.Protocol):
    """A minimal WebSocket client: the handshake, then unmasked server frames parsed in
    place; pings answered. A client as lean as this keeps the client processes (which share
    the machine with the API) from being what the figures measure."""

    def __init__(self, request: bytes, on_message: Callable[[bytes], None]) -> None:
        self.request = request
        self.on_message = on_message
        self.buffer = b""
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.refused = ""  # the status line of a handshake answered with anything but 101

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.refused = head.split(b"\r\n", 1)[0].decode(errors="replace")
                self._finish(None)
                return
            self.upgraded, self.buffer = True, rest
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                break
            payload, buffer = buffer[start : start + length], buffer[start + length :]
            if opcode == 0x1:
                if not self.opened.done():
                    self.opened.set_result(None)  # the snapshot
                else:
                    self.on_message(payload)
            elif opcode == 0x9 and self.transport is not None:  # ping: a masked pong
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self._finish(code)
        self.buffer = buffer

    def _finish(self, code: int | None) -> None:
        if not self.closed.done():
            self.closed.set_result(code)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            code = self.closed.result() if self.closed.done() else None
            refused = self.refused or (f"closed with {code}" if code else "dropped")
            self.opened.set_exception(ConnectionError(f"{refused} before the snapshot"))
        self._finish(None)


async def _clients(plan: ClientPlan, ready: object, go: object, out: object) -> None:
    jobs, key, count = plan.jobs, plan.key, plan.count
    split = urlsplit(plan.ws_url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    counts = {"received": 0, "failures": 0, "opened": 0}
    endings: dict[str, int] = {}  # how the streams that did not end normally ended
    first_last: list[float] = []
    marker = b'"emitted_at":"'

    def on_message(message: bytes) -> None:
        now = time.time()
        if b'"type":"progress"' not in message:
            return
        at = message.find(marker)
        if at < 0:
            return
        at += len(marker)
        emitted = dt.datetime.fromisoformat(message[at : message.index(b'"', at)].decode())
        latencies.append((now - emitted.timestamp()) * 1000)
        counts["received"] += 1
        if not first_last:
            first_last.append(now)
        first_last[1:] = [now]

    # Handshakes in flight: clients reconnecting after a restart come back with jitter, not
    # all in the same millisecond; more than the accept backlog at once would measure the
    # kernel's SYN retries (1, 3, 7, 15 s...) rather than the API.
    handshakes = asyncio.Semaphore(plan.at_once)

    async def one(index: int, opened: asyncio.Event) -> None:
        path = f"/ws/progress/{jobs[index % len(jobs)]}"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"
            f"\r\nSec-WebSocket-Version: 13\r\nX-API-Key: {key}\r\n\r\n"
        ).encode()
        protocol: LeanSocket | None = None
        try:
            async with handshakes, asyncio.timeout(300):
                _, protocol = await loop.create_connection(
                    lambda: LeanSocket(request, on_message), host, port
                )
                await protocol.opened
        except (OSError, TimeoutError) as exc:
            counts["failures"] += 1
            reason = f"not opened: {type(exc).__name__} {exc}"
            endings[reason] = endings.get(reason, 0) + 1
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()
            protocol = None
        counts["opened"] += 1
        if counts["opened"] == count:
            opened.set()
        if protocol is not None:
            code = await protocol.closed
            if code != 1000:
                counts["failures"] += 1
                endings[str(code)] = endings.get(str(code), 0) + 1

    opened = asyncio.Event()
    tasks = []
    for index in range(count):
        tasks.append(asyncio.create_task(one(index, opened)))
        if index % 50 == 49:
            await asyncio.sleep(0)  # let the handshakes progress
    await opened.wait()
    ready.put(counts["failures"])  # type: ignore[attr-defined]
    counts["failures"] = 0  # from here on: streams that did not end with a normal close
    await asyncio.to_thread(go.wait)  # type: ignore[attr-defined]
    await asyncio.gather(*tasks)
    span = first_last[-1] - first_last[0] if first_last else 0.0
    result = (latencies, counts["received"], span, counts["failures"], count, endings)
    out.put(result)  # type: ignore[attr-defined]


def baseline(redis_url: str, jobs: list[str], stop: threading.Event, into: list[float]) -> None:
    """A bare subscriber: the same events straight from Redis."""
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(*(events_channel(uuid.UUID(job)) for job in jobs))
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.1)
        if message and message["type"] == "message":
            event = json.loads(message["data"])
            emitted = dt.datetime.fromisoformat(event["emitted_at"]).timestamp()
            into.append((time.time() - emitted) * 1000)
    pubsub.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def run(service: Service, sockets: int, seconds: float, processes: int) -> dict[str, float]:
    jobs = create_jobs(service)
    ws_url = service.base_url.replace("http", "ws", 1)
    context = multiprocessing.get_context("spawn")
    ready, go, out = context.Queue(), context.Event(), context.Queue()
    share = [sockets // processes + (1 if n < sockets % processes else 0) for n in range(processes)]
    rss_before = rss_kb(service.api.pid)
    workers = [
        context.Process(
            target=client_process,
            args=(
                ClientPlan(ws_url, service.key, jobs, n, max(1, OPENING_AT_ONCE // processes)),
                ready,
                go,
                out,
            ),
        )
        for n in share
        if n
    ]
    opening, cpu_opening = time.monotonic(), cpu_seconds(service.api.pid)
    for worker in workers:
        worker.start()
    failed_to_open = sum(ready.get(timeout=600) for _ in workers)
    opened_in = time.monotonic() - opening
    cpu_per_open = (cpu_seconds(service.api.pid) - cpu_opening) / sockets
    time.sleep(1)  # let the API settle its buffers before reading its memory
    rss_open = rss_kb(service.api.pid)

    stop = threading.Event()
    bare: list[float] = []
    watcher = threading.Thread(target=baseline, args=(service.redis_url, jobs, stop, bare))
    watcher.start()
    time.sleep(0.5)
    go.set()
    cpu_before = cpu_seconds(service.api.pid)
    client = redis.Redis.from_url(service.redis_url)
    total_bytes = 100_000_000
    ticks = int(seconds * EVENTS_PER_SECOND)
    started = time.monotonic()
    # Each job's tracker runs on its own clock: the jobs' events are spread over the interval
    # (as downloads started at different moments are), not published all at one instant.
    interval = 1 / EVENTS_PER_SECOND
    schedule = sorted(
        (tick * interval + offset * interval / len(jobs), tick, job)
        for tick in range(1, ticks + 1)
        for offset, job in enumerate(jobs)
    )
    for due, tick, job in schedule:
        pause = started + due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        done = total_bytes * tick // (ticks + 1)
        publish(
            client,
            ProgressEvent(
                type="progress",
                job_id=uuid.UUID(job),
                status=JobStatus.PROCESSING,
                stage=JobStage.DOWNLOADING,
                progress=round(2 + 88 * done / total_bytes, 1),
                downloaded_bytes=done,
                total_bytes=total_bytes,
                at=dt.datetime.now(dt.UTC),
            ),
        )
    with httpx.Client(base_url=service.base_url, headers={"X-API-Key": service.key}) as http:
        for job in jobs:  # ends every stream
            http.delete(f"/api/v1/downloads/{job}")
    results = [out.get(timeout=600) for _ in workers]
    cpu_used = cpu_seconds(service.api.pid) - cpu_before
    for worker in workers:
        worker.join()
    stop.set()
    watcher.join()

    latencies = [value for result in results for value in result[0]]
    received = sum(result[1] for result in results)
    spans = [result[2] for result in results if result[2]]
    failures = sum(result[3] for result in results)
    endings: dict[str, int] = {}
    for result in results:
        for ending, number in result[5].items():
            endings[ending] = endings.get(ending, 0) + number
    if endings:
        print(f"{sockets} sockets, streams that failed, by ending: {endings}", file=sys.stderr)
    expected = ticks * sockets
    return {
        "sockets": sockets,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "baseline_p99_ms": percentile(bare, 0.99),
        "events_per_client_s": (received / sockets) / max(spans) if spans else 0.0,
        "delivered": received / expected if expected else 0.0,
        "kb_per_socket": (rss_open - rss_before) / sockets,
        "failed": failures + failed_to_open,
        "cpu_us_per_event": cpu_used / received * 1e6 if received else float("nan"),
        "opened_s": opened_in,
        "cpu_ms_per_open": cpu_per_open * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--api-log", type=Path, help="append the API's log to this file")
    args = parser.parse_args()
    raise_file_limit()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {JOBS} jobs, "
          f"{EVENTS_PER_SECOND} events/s each, {args.seconds:g} s")  # fmt: skip
    print("| sockets | p50 ms | p99 ms | bare Redis p99 ms | p99 ratio | events/client/s "
          "| delivered | API CPU µs/event | API KB/socket | opened in s | API CPU ms/open "
          "| failed |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for sockets in args.sockets:
        with tempfile.TemporaryDirectory(prefix="yds-fanout-") as workdir:
            service = start_service(Path(workdir), sockets, args.api_log)
            try:
                row = run(service, sockets, args.seconds, args.processes)
            finally:
                service.api.terminate()
                service.api.wait(30)
                service.redis_server.terminate()
                service.redis_server.wait(30)
        ratio = row["p99_ms"] / row["baseline_p99_ms"] if row["baseline_p99_ms"] else float("nan")
        print(
            f"| {sockets:,} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
            f"{row['baseline_p99_ms']:.1f} | {ratio:.1f}x | {row['events_per_client_s']:.2f} | "
            f"{row['delivered']:.1%} | {row['cpu_us_per_event']:.1f} | "
            f"{row['kb_per_socket']:.1f} | {row['opened_s']:.1f} | {row['cpu_ms_per_open']:.2f} | "
            f"{row['failed']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
