"""Memory over a long run: does the service give back what each job and socket took?

Starts a private Redis, the tests' offline YouTube site with `--jobs` distinct 2 s clips,
ONE API process (`python -m app.serve`) and ONE Celery worker with ONE pool process
(`celery … worker -c 1`), both with allocation tracing on (MEMORY_TRACE_DIR,
`app.core.memtrace`). After a warm-up (`--warmup` jobs and socket cycles, the first
allocation snapshots taken in the middle of it so their own cost is part of the baseline),
it reads the resident memory (VmRSS) of the pool process and of the API, runs `--jobs`
downloads (default request: thumbnail, metadata and captions) and `--cycles` progress
WebSocket cycles (open on a queued job, read the snapshot, close), reads RSS again and
takes the second snapshots. Printed: the RSS of both processes along the run, a table of
the growth, the lines of code whose live allocations grew most, and a JSON summary. The
target is at most 5 % growth of each process's RSS after the warm-up.

    .venv/bin/python -m benchmarks.soak                          # 1,000 jobs, 1,000 cycles
    .venv/bin/python -m benchmarks.soak --jobs 200 --cycles 500  # what the memory test runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.processes import start_redis
from tests.support.soak import running_soak, top_growth, traced_kib

TARGET_PERCENT = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=40, help="jobs (and cycles) first")
    parser.add_argument("--every", type=int, default=100, help="RSS printed every N jobs")
    args = parser.parse_args()
    redis, redis_url = start_redis()
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="yds-soak-") as tmp,
            running_soak(
                Path(tmp), redis_url=redis_url, videos=args.jobs + args.warmup + 20
            ) as soak,
        ):
            half = args.warmup // 2
            soak.run(half, half)
            pool_before, api_before = soak.snapshots()
            soak.run(args.warmup - half, args.warmup - half)
            pool_rss, api_rss = soak.rss()
            print(
                f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
                f"{args.jobs} jobs, {args.cycles} socket cycles after {args.warmup} of each"
            )
            print(
                f"after warm-up: pool {pool_rss / 1024:.1f} MB, API {api_rss / 1024:.1f} MB",
                flush=True,
            )

            def every(done: int) -> None:
                if done % args.every == 0:
                    pool, api = soak.rss()
                    print(
                        f"  {done:>5} jobs: pool {pool / 1024:.1f} MB, API {api / 1024:.1f} MB",
                        flush=True,
                    )

            run_started = time.monotonic()
            soak.run(args.jobs, args.cycles, progress=every)
            run_seconds = time.monotonic() - run_started
            pool_end, api_end = soak.rss()
            pool_after, api_after = soak.snapshots()
    finally:
        redis.terminate()
        redis.wait()
    rows = {
        "worker pool process": (pool_rss, pool_end, pool_before, pool_after),
        "API process": (api_rss, api_end, api_before, api_after),
    }
    print("| process | RSS after warm-up MB | RSS at end MB | growth | traced growth KiB |")
    print("|---|---|---|---|---|")
    summary: dict[str, object] = {
        "name": "soak",
        "jobs": args.jobs,
        "cycles": args.cycles,
        "warmup": args.warmup,
        "target_percent": TARGET_PERCENT,
        "run_seconds": round(run_seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
    }
    for name, (rss_before, rss_after, before, after) in rows.items():
        growth = 100 * (rss_after - rss_before) / rss_before
        traced = traced_kib(after) - traced_kib(before)
        print(
            f"| {name} | {rss_before / 1024:.1f} | {rss_after / 1024:.1f} | {growth:+.1f} % "
            f"| {traced:+.0f} |"
        )
        summary[name.split()[0].lower()] = {
            "rss_mb": [round(rss_before / 1024, 1), round(rss_after / 1024, 1)],
            "growth_percent": round(growth, 2),
            "traced_growth_kib": round(traced),
        }
    for name, (_, _, before, after) in rows.items():
        print(f"top allocation growth, {name}:")
        for line in top_growth(before, after, 8):
            print(f"  {line}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
