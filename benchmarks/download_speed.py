"""POST → completed against yt-dlp downloading the same URL, on loopback.

A single-file video of `--size-mb` (made once with ffmpeg and kept in `--media-dir`) is
served with byte ranges by the tests' media server, in a process of its own; the offline
extractor plugin makes a YouTube URL resolve to it. Interleaved, `--repeats` times:

- the warm floor: yt-dlp's Python API (`YoutubeDL(...).download([url])`) inside this
  already-running process, imports done;
- the bare `yt-dlp` command on the same URL;
- the service as `make run` starts it (the API, and a Celery worker with one process):
  `POST /api/v1/downloads` until the job's `completed` event, for the lean request (no
  thumbnail, metadata or captions) and for the default request.

Medians are compared. Targets: lean at most 1.10 times the warm floor, default at most 1.35.

    .venv/bin/python -m benchmarks.download_speed [--size-mb 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import redis

from benchmarks.processes import (
    LEAN_REQUEST,
    PROJECT_ROOT,
    api_env,
    free_port,
    start_api,
    start_redis,
)

VIDEO_ID = "b1gV1de0P1x"
URL = f"https://www.youtube.com/watch?v={VIDEO_ID}"
PLUGIN_DIR = PROJECT_ROOT / "tests" / "plugins"
CATALOG_ENV = "YDS_OFFLINE_CATALOG"
# What one second of the noise clip weighs (lossless H.264 at 1280x720, 30 fps): about 52 MB.
BYTES_PER_SECOND_GUESS = 50 * 1024 * 1024
TARGETS = {"lean": 1.10, "default": 1.35}
COMPLETION_TIMEOUT = 300.0


def ensure_video(media_dir: Path, size_mb: int) -> Path:
    """An mp4 (H.264 noise + AAC tone) of at least `size_mb`, made once and kept."""
    target = media_dir / f"noise-{size_mb}mb.mp4"
    if target.is_file():
        return target
    media_dir.mkdir(parents=True, exist_ok=True)
    seconds = max(2, -(-size_mb * 1024 * 1024 // BYTES_PER_SECOND_GUESS))
    while True:
        partial = target.with_suffix(".tmp.mp4")
        print(f"making a {seconds} s test video (once, kept in {media_dir})...", flush=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
             "-i", f"color=c=gray:s=1280x720:r=30:d={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
             "-vf", "noise=alls=60:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
             "-qp", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
             "-movflags", "+faststart", "-shortest", str(partial)],
            check=True,
        )  # fmt: skip
        if partial.stat().st_size >= size_mb * 1024 * 1024:
            partial.replace(target)
            return target
        seconds += 1 + seconds * (size_mb * 1024 * 1024 - partial.stat().st_size) // (
            partial.stat().st_size or 1
        )


def ensure_thumbnail(media_dir: Path) -> Path:
    target = media_dir / "thumbnail.jpg"
    if not target.is_file():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=480x360:d=1",
             "-frames:v", "1", str(target)],
            check=True,
        )  # fmt: skip
    return target


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def publish_site(media_dir: Path, site: Path, video: Path) -> None:
    """The served layout: hard links (the server refuses paths outside its root)."""
    for source, served in (
        (video, site / "media" / VIDEO_ID / "18.mp4"),
        (ensure_thumbnail(media_dir), site / "vi" / VIDEO_ID / "hqdefault.jpg"),
    ):
        served.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, served)
        except OSError:
            shutil.copyfile(source, served)


def write_catalog(path: Path, base_url: str, video: Path) -> None:
    size = video.stat().st_size
    duration = probe_duration(video)
    entry = {
        "title": "Download speed benchmark",
        "channel": "Benchmarks",
        "uploader": "Benchmarks",
        "duration": round(duration),
        "upload_date": "20240115",
        "live_status": "not_live",
        "thumbnail": f"{base_url}/vi/{VIDEO_ID}/hqdefault.jpg",
        "thumbnails": [{"url": f"{base_url}/vi/{VIDEO_ID}/hqdefault.jpg", "id": "0"}],
        "formats": [
            {
                "format_id": "18",
                "url": f"{base_url}/media/{VIDEO_ID}/18.mp4",
                "ext": "mp4",
                "vcodec": "avc1.64001f",
                "acodec": "mp4a.40.2",
                "width": 1280,
                "height": 720,
                "fps": 30,
                "filesize": size,
                "tbr": size * 8 / 1000 / duration,
            }
        ],
        "subtitles": {},
        "automatic_captions": {},
    }
    catalog = {"version": 1, "base_url": base_url, "videos": {VIDEO_ID: entry}}
    path.write_text(json.dumps(catalog), encoding="utf-8")


def start_media_server(site: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The media server in a process of its own: in this one it would take the GIL from
    the in-process yt-dlp of the warm floor."""
    port = free_port()
    code = (
        "import sys, threading; from pathlib import Path;"
        "from tests.support.media_server import MediaServer;"
        "MediaServer(Path(sys.argv[1]), port=int(sys.argv[2])).start();"
        "threading.Event().wait()"
    )
    server = subprocess.Popen([sys.executable, "-c", code, str(site), str(port)], cwd=PROJECT_ROOT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base_url}/vi/{VIDEO_ID}/hqdefault.jpg", timeout=1)
            return server, base_url
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the media server did not start") from None
            time.sleep(0.1)


def warm_floor(out_dir: Path) -> float:
    import yt_dlp

    params = {"paths": {"home": str(out_dir)}, "quiet": True, "noprogress": True}
    started = time.perf_counter()
    with yt_dlp.YoutubeDL(params) as ydl:
        ydl.download([URL])
    return time.perf_counter() - started


def bare_cli(out_dir: Path, env: dict[str, str]) -> float:
    command = [str(Path(sys.executable).parent / "yt-dlp"), "-q", "--no-progress", "-P"]
    started = time.perf_counter()
    subprocess.run([*command, str(out_dir), URL], env=env, check=True)
    return time.perf_counter() - started


class Service:
    """The API and one worker process, and a way to time a job from POST to completed."""

    def __init__(self, workdir: Path, redis_url: str, extra_env: dict[str, str]) -> None:
        port = free_port()
        self.env = api_env(
            f"sqlite+aiosqlite:///{workdir / 'app.db'}",
            redis_url,
            workdir,
            port,
            ALLOW_PRIVATE_NETWORKS="true",
            MAX_CONCURRENT_DOWNLOADS="1",
            **extra_env,
        )
        self.storage = workdir / "downloads"
        self.base_url = f"http://127.0.0.1:{port}"
        self.api, key = start_api(self.env)
        self.headers = {"X-API-Key": key}
        self.worker_log = workdir / "worker.log"
        try:
            self.worker = self._start_worker()
        except BaseException:
            self.api.terminate()
            raise
        self.redis = redis.Redis.from_url(redis_url)
        self.client = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30)

    def _start_worker(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "celery", "-A", "app.core.celery_app", "worker",
                   "-Q", "maintenance,downloads.high,downloads,downloads.low",
                   "-c", "1", "-l", "INFO", "--without-gossip", "--without-mingle"]  # fmt: skip
        with self.worker_log.open("wb") as log:
            worker = subprocess.Popen(
                command,
                env={**self.env, "LOG_LEVEL": "INFO"},  # for its "ready." line
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while b" ready." not in self.worker_log.read_bytes():
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the worker did not start:\n{self.worker_log.read_text()}")
            time.sleep(0.1)
        return worker

    def run_job(self, options: dict[str, Any]) -> float:
        """Seconds from the POST until the job's completed event."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.psubscribe("yds:job:*:events")
        try:
            started = time.perf_counter()
            answer = self.client.post("/api/v1/downloads", json={"url": URL, **options})
            answer.raise_for_status()
            job_id = answer.json()["job_id"]
            channel = f"yds:job:{job_id}:events".encode()
            deadline = time.monotonic() + COMPLETION_TIMEOUT
            while time.monotonic() < deadline:
                message = pubsub.get_message(timeout=1.0)
                if message is None or message["channel"] != channel:
                    continue
                event = json.loads(message["data"])
                if event.get("type") == "status" and event.get("status") in (
                    "completed", "failed", "canceled",
                ):  # fmt: skip
                    elapsed = time.perf_counter() - started
                    break
            else:
                raise SystemExit(f"job {job_id} did not end in {COMPLETION_TIMEOUT} s")
        finally:
            pubsub.close()
        job = self.client.get(f"/api/v1/downloads/{job_id}").json()
        if job["status"] != "completed":
            raise SystemExit(f"job {job_id} ended {job['status']}: {job.get('error')}")
        shutil.rmtree(self.storage / str(uuid.UUID(job_id)), ignore_errors=True)
        return elapsed

    def stop(self) -> None:
        self.client.close()
        for process in (self.worker, self.api):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def measure(repeats: int, runs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each run once as a warm-up, then `repeats` rounds, interleaved."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
        print(
            f"round {round_ + 1}: "
            + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in times.items()),
            flush=True,
        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--media-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "yds-bench-media",
        help="where the test video is kept between runs",
    )
    args = parser.parse_args()
    video = ensure_video(args.media_dir, args.size_mb)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        site = workdir / "site"
        publish_site(args.media_dir, site, video)
        server, base_url = start_media_server(site)
        stack.callback(server.kill)
        catalog = workdir / "catalog.json"
        write_catalog(catalog, base_url, video)
        plugin_env = {CATALOG_ENV: str(catalog)}
        pythonpath = os.pathsep.join([str(PROJECT_ROOT), str(PLUGIN_DIR)])
        cli_env = {**os.environ, **plugin_env, "PYTHONPATH": str(PLUGIN_DIR)}
        redis_server, redis_url = start_redis()
        stack.callback(redis_server.kill)
        service = Service(workdir, redis_url, {**plugin_env, "PYTHONPATH": pythonpath})
        stack.callback(service.stop)

        from tests.support.offline_youtube import activate_in_process

        activate_in_process(catalog)
        out = workdir / "out"

        def fresh() -> Path:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            return out

        times = measure(
            args.repeats,
            {
                "warm floor": lambda: warm_floor(fresh()),
                "bare CLI": lambda: bare_cli(fresh(), cli_env),
                "lean": lambda: service.run_job(LEAN_REQUEST),
                "default": lambda: service.run_job({}),
            },
        )
    report(times, video.stat().st_size)


def report(times: dict[str, list[float]], size: int) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor, cli = medians["warm floor"], medians["bare CLI"]
    print(f"{size / 1024**2:.0f} MB single-file video on loopback; medians of {len(times['lean'])}")
    print(f"{'name':<28} {'ratio':>6} {'baseline':>9} {'service':>8}")
    lines = []
    for request in ("lean", "default"):
        for baseline_name, baseline in (("warm floor", floor), ("bare CLI", cli)):
            ratio = medians[request] / baseline
            name = f"{request} / {baseline_name}"
            lines.append({"name": name, "ratio": round(ratio, 3), "baseline": round(baseline, 3),
                          "service": round(medians[request], 3)})  # fmt: skip
            print(f"{name:<28} {ratio:>6.2f} {baseline:>8.2f}s {medians[request]:>7.2f}s")
    met = {request: medians[request] / floor <= target for request, target in TARGETS.items()}
    summary = {
        "benchmark": "download_speed",
        "size_bytes": size,
        "seconds": times,
        "medians": medians,
        "ratios": lines,
        "targets": TARGETS,
        "met": met,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
