"""Several connections per download: POST → completed against the bare yt-dlp CLI on the
same watch URL, with the media server throttling each connection (as YouTube does) and
without a throttle.

Starts Redis, the offline YouTube site and two stacks (API and worker): one with the default
DOWNLOAD_CONNECTIONS, one with 1. Each round runs the CLI and the services one after the
other on a single-file (progressive) format, lean request (no thumbnail, metadata or
captions); the figures are medians.

    .venv/bin/python -m benchmarks.multi_connection
    .venv/bin/python -m benchmarks.multi_connection --rounds 3 --seconds 12
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx

from benchmarks.processes import LEAN_REQUEST, start_redis
from tests.support.constants import TEST_KEY_SECRET
from tests.support.databases import migrate
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube
from tests.support.stack import Stack, running_stack


def make_media(path: Path, seconds: int, kbps: int) -> None:
    """A progressive mp4 (video and audio) whose size is about seconds times kbps."""
    rate = f"{kbps}k"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y"),
            *("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
            *("-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "ultrafast"),
            *("-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate),
            *("-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(path)),
        ],
        check=True,
    )


def publish(youtube: OfflineYouTube, media: Path, duration: int, video_id: str, rate: int) -> str:
    """A catalog video whose only format is `media`, served at `rate` bytes/s a connection
    (0: as fast as loopback goes); its watch URL."""
    target = youtube.site_root / "media" / "bench" / media.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.hardlink_to(media)
    entry: dict[str, Any] = copy.deepcopy(youtube.catalog["videos"][STANDARD_VIDEO_ID])
    progressive = next(f for f in entry["formats"] if f["format_id"] == "18")
    query = f"?rate={rate}" if rate else ""
    entry.update(
        id=video_id,
        duration=duration,
        subtitles={},
        automatic_captions={},
        formats=[
            {
                **progressive,
                "url": f"{youtube.base_url}/media/bench/{media.name}{query}",
                "filesize": media.stat().st_size,
            }
        ],
    )
    youtube.set_entry(video_id, entry)
    return youtube.video_url(video_id)


def cli_seconds(stack: Stack, url: str, workdir: Path) -> float:
    out = workdir / f"cli-{time.monotonic_ns()}"
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "yt_dlp", "-q", "-f", "18", "-P", str(out), url],
        env=stack.env,
        check=True,
    )
    elapsed = time.monotonic() - started
    for path in out.iterdir():
        path.unlink()
    out.rmdir()
    return elapsed


async def service_seconds(stack: Stack, key: str, url: str) -> float:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        headers = {"X-API-Key": key}
        started = time.monotonic()
        response = await http.post(
            "/api/v1/downloads", json={"url": url, **LEAN_REQUEST}, headers=headers
        )
        response.raise_for_status()
        job_id = response.json()["job_id"]
        while True:
            body = (await http.get(f"/api/v1/downloads/{job_id}", headers=headers)).json()
            if body["status"] in ("completed", "failed", "canceled"):
                break
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        if body["status"] != "completed":
            raise SystemExit(f"the job ended {body['status']}: {body.get('error')}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=24, help="the media file's size")
    parser.add_argument(
        "--seconds", type=float, default=6, help="the throttled CLI's time (sets the rate)"
    )
    args = parser.parse_args()
    # What every started process (and the key written straight into its database) shares.
    os.environ.update(
        {
            "ENVIRONMENT": "localhost",
            "API_KEY_SECRET": TEST_KEY_SECRET,
            "BROKER_URL": "",
            "BOOTSTRAP_ADMIN_API_KEY": "",
            "STORAGE_BACKEND": "local",
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "RATE_LIMIT_PER_IP_PER_MINUTE": "1000000",
        }
    )
    redis, redis_url = start_redis()
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-multi-") as tmp:
            root = Path(tmp)
            media = root / "big.mp4"
            kbps = 8000
            duration = max(4, round(args.size_mb * 8 * 1024 / (kbps + 128)))
            make_media(media, duration, kbps)
            size = media.stat().st_size
            rate = int(size / args.seconds)
            with OfflineYouTube(root / "site") as youtube:
                throttled = publish(youtube, media, duration, "benchThrot1", rate)
                unthrottled = publish(youtube, media, duration, "benchFast01", 0)
                stacks: list[Any] = []
                for name, connections in (("multi", "4"), ("single", "1")):
                    database = f"sqlite+aiosqlite:///{root / name}.db"
                    migrate(database)
                    (root / name).mkdir()
                    stacks.append(
                        running_stack(
                            database_url=database,
                            youtube=youtube,
                            base_dir=root / name,
                            redis_url=f"{redis_url.rsplit('/', 1)[0]}/{len(stacks) + 1}",
                            DOWNLOAD_CONNECTIONS=connections,
                        )
                    )
                # A stack prints its processes' logs when it stops: not part of the results.
                with redirect_stdout(io.StringIO()), stacks[0] as multi, stacks[1] as single:
                    keys = (multi.key("bench"), single.key("bench"))
                    results = run(args.rounds, root, multi, single, keys, throttled, unthrottled)
            results["media"] = {"bytes": size, "rate_per_connection": rate}
    finally:
        redis.terminate()
        redis.wait()
    for name, figure in results.items():
        if "ratio" in figure:
            print(f"{name} {figure['ratio']:.3f} {figure['baseline']:.3f} {figure['service']:.3f}")
    print(json.dumps(results, indent=2))


def run(
    rounds: int,
    root: Path,
    multi: Stack,
    single: Stack,
    keys: tuple[str, str],
    throttled: str,
    unthrottled: str,
) -> dict[str, dict[str, float]]:
    def measure(stack: Stack, key: str, url: str) -> Callable[[], float]:
        return lambda: asyncio.run(service_seconds(stack, key, url))

    measure(multi, keys[0], unthrottled)()  # warm both workers up
    measure(single, keys[1], unthrottled)()
    figures: dict[str, dict[str, float]] = {}
    cli: list[float] = []
    svc: list[float] = []
    for _ in range(rounds):
        cli.append(cli_seconds(multi, throttled, root))
        svc.append(measure(multi, keys[0], throttled)())
    figures["multi_connection_throttled"] = summary(cli, svc)
    cli, svc, one = [], [], []
    for _ in range(rounds):
        cli.append(cli_seconds(multi, unthrottled, root))
        svc.append(measure(multi, keys[0], unthrottled)())
        one.append(measure(single, keys[1], unthrottled)())
    figures["multi_connection_unthrottled"] = summary(cli, svc)
    figures["multi_vs_one_connection_unthrottled"] = summary(one, svc)
    return figures


def summary(baseline: list[float], service: list[float]) -> dict[str, float]:
    base, ours = statistics.median(baseline), statistics.median(service)
    return {"ratio": ours / base, "baseline": base, "service": ours}


if __name__ == "__main__":
    main()
