"""Accepted downloads per second: `POST /api/v1/downloads` against a FastAPI endpoint that
does one INSERT into the same database, both served by uvicorn in one process.

For each database (SQLite; PostgreSQL when `--postgres` names a server this user may
create databases on), this starts a private Redis, then the baseline app and the API
(`python -m app.serve`, as in production, no worker: the jobs stay queued), and sends
`--requests` POSTs over keep-alive connections from several client processes. It reports
accepted requests per second and the server's CPU time per request (which, unlike the
rate, hardly depends on what else the machine runs), and their ratios to the baseline.

    .venv/bin/python -m benchmarks.api_accept                   # SQLite, and local PostgreSQL
    .venv/bin/python -m benchmarks.api_accept --postgres ''        # SQLite only

Each side first gets a tenth of `--requests` as warm-up, then `--rounds` alternating
rounds; the medians are reported, as a table, `name ratio baseline service` lines and a JSON
summary. The database keeps every accepted job, so the API's per-key checks run on a growing
table, as they do in use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.processes import (
    PROJECT_ROOT,
    api_env,
    cpu_seconds,
    free_port,
    start_api,
    start_redis,
    wait_up,
)

BODY = json.dumps({"url": "https://www.youtube.com/watch?v=aqz-KE-bpKQ"}).encode()
CONNECTIONS_PER_PROCESS = 8
TARGET_RATIO = 0.6


@dataclass
class Target:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    headers: dict[str, str]


def start_baseline(database_url: str) -> Target:
    port = free_port()
    env = {**os.environ, "BASELINE_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "benchmarks.one_insert", str(port)]
    process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/health", process)
    return Target("one INSERT", process, port, {})


def start_ours(database_url: str, redis_url: str, workdir: Path) -> Target:
    port = free_port()
    unlimited = "100000000"  # every POST is accepted: the quotas are not what is measured
    env = api_env(
        database_url,
        redis_url,
        workdir,
        port,
        MAX_ACTIVE_JOBS_PER_KEY=unlimited,
        MAX_JOBS_PER_DAY_PER_KEY=unlimited,
    )
    api, key = start_api(env)
    return Target("POST /api/v1/downloads", api, port, {"X-API-Key": key})


def client_process(port: int, headers: dict[str, str], count: int, out: Any) -> None:
    out.put(asyncio.run(_post_many(port, headers, count)))


async def _post_many(port: int, headers: dict[str, str], count: int) -> tuple[int, int]:
    """POST `count` times over a few keep-alive connections: (accepted, refused)."""
    head = (
        f"POST {{path}} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"Content-Length: {len(BODY)}\r\n\r\n"
    )
    path = "/api/v1/downloads" if headers else "/jobs"
    request = head.format(path=path).encode() + BODY
    results = {"accepted": 0, "refused": 0}
    remaining = [count]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            results["accepted" if b" 202 " in status_line else "refused"] += 1
        writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS_PER_PROCESS)))
    return results["accepted"], results["refused"]


def measure(target: Target, requests: int, processes: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    share = [requests // processes] * processes
    workers = [
        context.Process(target=client_process, args=(target.port, target.headers, n, out))
        for n in share
    ]
    cpu_before, started = cpu_seconds(target.process.pid), time.monotonic()
    for worker in workers:
        worker.start()
    results = [out.get(timeout=600) for _ in workers]
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(target.process.pid) - cpu_before
    for worker in workers:
        worker.join()
    accepted = sum(result[0] for result in results)
    refused = sum(result[1] for result in results)
    return {
        "per_second": accepted / elapsed,
        "cpu_ms": cpu / max(accepted, 1) * 1000,
        "refused": refused,
    }


def stop(target: Target) -> None:
    target.process.terminate()
    target.process.wait(30)


@contextmanager
def postgres_database(admin_url: str) -> Any:
    name = f"yds_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run_backend(
    label: str, database_url: str, args: argparse.Namespace, workdir: Path
) -> dict[str, float]:
    """Both servers up side by side; rounds alternate between them and medians are kept,
    so a burst of load elsewhere on the machine hits both sides alike."""
    redis_server, redis_url = start_redis()
    targets: list[Target] = []
    try:
        baseline = start_baseline(database_url)
        targets.append(baseline)
        api = start_ours(database_url, redis_url, workdir)
        targets.append(api)
        for target in targets:
            measure(target, args.requests // 10, args.processes)  # warm-up
        rounds: dict[str, list[dict[str, float]]] = {"base": [], "ours": []}
        for _ in range(args.rounds):
            rounds["base"].append(measure(baseline, args.requests, args.processes))
            rounds["ours"].append(measure(api, args.requests, args.processes))
    finally:
        for target in targets:
            stop(target)
        redis_server.terminate()
        redis_server.wait(30)
    summary = {
        f"{side}_{field}": statistics.median([run[field] for run in runs])
        for side, runs in rounds.items()
        for field in ("per_second", "cpu_ms")
    }
    summary["refused"] = sum(run["refused"] for run in rounds["ours"])
    summary["ratio"] = summary["ours_per_second"] / summary["base_per_second"]
    summary["cpu_ratio"] = summary["base_cpu_ms"] / summary["ours_cpu_ms"]
    print(
        f"| {label} | {summary['base_per_second']:.0f} | {summary['ours_per_second']:.0f} | "
        f"{summary['ratio']:.2f}x | {summary['base_cpu_ms']:.2f} | {summary['ours_cpu_ms']:.2f} "
        f"| {summary['refused']:.0f} |",
        flush=True,
    )
    return summary


def report(results: dict[str, dict[str, float]]) -> None:
    """`name ratio baseline service` lines (rate: higher is better; CPU: baseline/service),
    then one JSON summary."""
    print("name ratio baseline service")
    for label, row in results.items():
        name = f"p4_accept_{label.lower()}"
        rate = (row["ratio"], row["base_per_second"], row["ours_per_second"])
        cpu = (row["cpu_ratio"], row["base_cpu_ms"], row["ours_cpu_ms"])
        print(f"{name} {rate[0]:.2f} {rate[1]:.0f} {rate[2]:.0f}")
        print(f"{name}_cpu {cpu[0]:.2f} {cpu[1]:.2f} {cpu[2]:.2f}")
    target = {label: row["ratio"] >= TARGET_RATIO for label, row in results.items()}
    print(json.dumps({"benchmark": "api_accept", "target_ratio": TARGET_RATIO, "met": target,
                      "results": results}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL that may create databases ('' to skip)",
    )
    args = parser.parse_args()
    connections = args.processes * CONNECTIONS_PER_PROCESS
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.requests} POSTs over {connections} connections, "
          f"median of {args.rounds} alternating rounds")  # fmt: skip
    print("| database | one-INSERT baseline /s | accepted downloads /s | ratio "
          "| baseline CPU ms/request | API CPU ms/request | refused |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="yds-accept-") as workdir:
        sqlite_url = f"sqlite+aiosqlite:///{Path(workdir) / 'app.db'}"
        results["SQLite"] = run_backend("SQLite", sqlite_url, args, Path(workdir))
        if args.postgres:
            try:
                with postgres_database(args.postgres) as postgres_url:
                    results["PostgreSQL"] = run_backend(
                        "PostgreSQL", postgres_url, args, Path(workdir)
                    )
            except psycopg.OperationalError as exc:
                print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0]}")
    report(results)


if __name__ == "__main__":
    main()
