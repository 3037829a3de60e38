"""Many short jobs at once (P6): `--jobs` downloads of distinct 2 s fixture videos POSTed
together to the service, against a shell loop of bare yt-dlp downloading them one after
another.

Starts the tests' offline YouTube site and the service as `make run` does
(`benchmarks.service`, the worker at its default concurrency). The service side is timed
from the first POST to the last job completed (the POSTs included); the request asks for
no thumbnail, metadata or captions, so both sides do the same work (best video and audio,
merged by ffmpeg). The loop runs `--loop-sample` of the videos and is scaled to `--jobs`:
each iteration costs the same (a CLI start-up and one small download). Prints `name ratio
baseline service` lines and a JSON summary.

    .venv/bin/python -m benchmarks.short_jobs                          # 60 jobs, 15 looped
    .venv/bin/python -m benchmarks.short_jobs --jobs 200 --loop-sample 200   # the full measure
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from benchmarks.processes import LEAN_REQUEST
from benchmarks.service import Service, running_service, site_env
from tests.support.offline_youtube import OfflineYouTube

PLAYLIST = "PLbenchShortJobs"
# The loop a user would write; its arguments are the URLs.
LOOP = (
    'for url in "$@"; do "$PYTHON" -m yt_dlp --quiet --no-progress'
    ' -o "$OUT/%(id)s.%(ext)s" "$url" || exit 1; done'
)


def short_videos(youtube: OfflineYouTube, count: int) -> list[str]:
    """`count` distinct 2 s videos on the site: their watch URLs."""
    ids = [f"shortJob{n:03d}" for n in range(count)]
    youtube.add_playlist(PLAYLIST, ids)
    return [youtube.video_url(video_id) for video_id in ids]


def time_loop(youtube: OfflineYouTube, urls: list[str], out: Path) -> float:
    env = {**site_env(youtube), "PYTHON": sys.executable, "OUT": str(out)}
    started = time.perf_counter()
    subprocess.run(["sh", "-c", LOOP, "loop", *urls], env=env, check=True)
    return time.perf_counter() - started


def time_service(service: Service, urls: list[str], options: Mapping[str, object]) -> float:
    started = time.perf_counter()
    job_ids = [service.submit(url, **options) for url in urls]
    statuses = service.wait_all(job_ids)
    elapsed = time.perf_counter() - started
    failed = sorted(status for status in statuses.values() if status != "completed")
    if failed:
        raise SystemExit(f"{len(failed)} of {len(urls)} jobs did not complete: {failed[:5]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--loop-sample", type=int, default=15)
    parser.add_argument(
        "--default-request",
        action="store_true",
        help="the service downloads with thumbnail, metadata and captions (default: none)",
    )
    args = parser.parse_args()
    sample = min(args.loop_sample, args.jobs)
    options = {} if args.default_request else LEAN_REQUEST
    with (
        tempfile.TemporaryDirectory(prefix="yds-bench-") as tmp,
        OfflineYouTube(Path(tmp) / "site") as youtube,
    ):
        # Distinct videos for the loop and the service: nothing is served from a cache.
        urls = short_videos(youtube, args.jobs + sample)
        loop_urls, service_urls = urls[args.jobs :], urls[: args.jobs]
        out = Path(tmp) / "loop"
        out.mkdir()
        with running_service(youtube, Path(tmp) / "service") as service:
            loop_seconds = time_loop(youtube, loop_urls, out) * args.jobs / sample
            service_seconds = time_service(service, service_urls, options)
    ratio = service_seconds / loop_seconds
    print(f"{args.jobs} short jobs at once; the loop ran {sample} and is scaled")
    print(f"short_jobs {ratio:.2f} {loop_seconds:.1f} {service_seconds:.1f}")
    summary = {
        "jobs": args.jobs,
        "loop_sample": sample,
        "request": "default" if args.default_request else "lean",
        "target": 0.6,
        "ratio": round(ratio, 3),
        "loop_seconds": round(loop_seconds, 2),
        "service_seconds": round(service_seconds, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
