"""Peak memory of the worker downloading a video against bare yt-dlp downloading the same.

Serves a generated progressive MP4 (about `--size-mb`) from the tests' offline YouTube
site, starts the service as `make run` does (`benchmarks.service`), and alternates
`--rounds` times: bare yt-dlp (the CLI) downloads the video, then the service does (POST
with no thumbnail, metadata or captions: the same work; `--default-request` adds them).

While each download runs, every process is sampled about 50 times a second from /proc
(status and smaps_rollup): RSS (resident pages, shared or not), PSS (each shared page
divided among the processes mapping it) and USS (pages only this process maps).
- **bare**: the yt-dlp process (its peak RSS is its own VmHWM).
- **child**: the prefork pool process that runs the task (found by its open file in the
  work directory). Its RSS counts the pages it shares copy-on-write with the worker's main
  process: the imports done before the fork (pydantic, SQLAlchemy, Celery, Redis, yt-dlp),
  about 88 MB that every pool process maps whether it downloads or not.
- **worker tree**: the worker's main process, its embedded beat and its pool processes
  (not ffmpeg or ffprobe), PSS summed: its peak during the download over its value idle.

The headline (`worker_memory`) is what one download costs the machine: bare yt-dlp's
PSS, against what the download adds to the running worker's PSS. The other lines compare
the two downloading processes alone (`worker_memory_child_rss` is like with like, and
counts the worker's shared imports in full). Printed: `name ratio baseline service`
lines, then a JSON summary.

    .venv/bin/python -m benchmarks.worker_memory                # 120 MB, 3 rounds
    .venv/bin/python -m benchmarks.worker_memory --size-mb 300 --rounds 5
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from benchmarks.processes import LEAN_REQUEST
from benchmarks.service import Service, bare_ytdlp, running_service, site_env
from tests.support.media import DEFAULT_CACHE_ROOT
from tests.support.offline_youtube import STANDARD_VIDEO_ID, OfflineYouTube

VIDEO_ID = "BiGmEmVid01"
MB_PER_SECOND_OF_VIDEO = 9.6  # what the recipe below makes, about
NOT_PYTHON = ("ffmpeg", "ffprobe", "redis-server")


def big_video(size_mb: int) -> Path:
    """A progressive H.264/AAC MP4 of about `size_mb`, cached beside the tests' media."""
    path = DEFAULT_CACHE_ROOT / f"bench-{size_mb}mb.mp4"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_suffix(f".{os.getpid()}.mp4")
    seconds = f"{size_mb / MB_PER_SECOND_OF_VIDEO:.2f}"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y"),
            *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30,noise=alls=60:allf=t"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"),
            *("-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "12"),
            *("-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"),
            *("-movflags", "+faststart", str(draft)),
        ],
        check=True,
    )
    draft.replace(path)
    return path


def publish(youtube: OfflineYouTube, video: Path) -> str:
    """Put the video on the site as one progressive format; its watch URL."""
    served = youtube.site_root / "media" / VIDEO_ID / "18.mp4"
    served.parent.mkdir(parents=True, exist_ok=True)
    if not served.exists():
        os.link(video, served)
    entry = copy.deepcopy(youtube.catalog["videos"][STANDARD_VIDEO_ID])
    progressive = next(f for f in entry["formats"] if f["format_id"] == "18")
    progressive.update(
        url=youtube.server.url(f"media/{VIDEO_ID}/18.mp4"),
        filesize=video.stat().st_size,
        width=640,
        height=360,
    )
    duration = float(
        subprocess.run(
            [*("ffprobe", "-v", "error", "-show_entries", "format=duration"), str(video)],
            *(),
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.split("=")[1]
        .split()[0]
    )
    entry.update(
        id=VIDEO_ID,
        duration=duration,
        display_id=VIDEO_ID,
        title="Memory benchmark (offline fixture)",
        formats=[progressive],
        subtitles={},
        automatic_captions={},
        chapters=[],
    )
    youtube.set_entry(VIDEO_ID, entry)
    return youtube.video_url(VIDEO_ID)


# -- sampling /proc -------------------------------------------------------------------------


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _rollup_kb(pid: int) -> dict[str, int]:
    """Rss, Pss and USS (private clean + dirty) in kB, from smaps_rollup."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0])
    return {
        "rss": values.get("Rss", 0),
        "pss": values.get("Pss", 0),
        "uss": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0),
    }


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def python_descendants(root: int) -> list[int]:
    """`root` and its descendants that run Python (not ffmpeg, ffprobe or Redis)."""
    tree, found, todo = _children(), [root], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            todo.append(child)
            try:
                name = Path(f"/proc/{child}/comm").read_text().strip()
            except OSError:
                continue
            if not name.startswith(NOT_PYTHON):
                found.append(child)
    return found


def holds_file_under(pid: int, directory: Path) -> bool:
    prefix = str(directory)
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd).startswith(prefix):
                return True
        except OSError:
            continue
    return False


@dataclass
class Peaks:
    """The largest values seen, in kB."""

    rss: int = 0
    uss: int = 0
    pss: int = 0
    hwm: int = 0

    def __str__(self) -> str:
        rss, pss, uss = (value / 1024 for value in (self.rss, self.pss, self.uss))
        return f"rss {rss:.1f} MB, pss {pss:.1f} MB, uss {uss:.1f} MB"

    def take(self, sample: dict[str, int]) -> None:
        for name, value in sample.items():
            setattr(self, name, max(getattr(self, name), value))


@dataclass
class Sampler:
    """Samples processes on a thread until stopped: `pids()` says which, each time."""

    pids: Callable[[], list[int]]
    per_process: dict[int, Peaks] = field(default_factory=dict)
    tree_pss: int = 0
    tree_rss: int = 0
    marked: set[int] = field(default_factory=set)
    mark_under: Path | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.02)

    def sample(self) -> None:
        pss = rss = 0
        for pid in self.pids():
            try:
                sample = {**_rollup_kb(pid), "hwm": _status_kb(pid, "VmHWM")}
            except (OSError, ValueError):
                continue
            self.per_process.setdefault(pid, Peaks()).take(sample)
            pss, rss = pss + sample["pss"], rss + sample["rss"]
            if self.mark_under and holds_file_under(pid, self.mark_under):
                self.marked.add(pid)
        self.tree_pss, self.tree_rss = max(self.tree_pss, pss), max(self.tree_rss, rss)


# -- the two sides --------------------------------------------------------------------------


def run_bare(youtube: OfflineYouTube, url: str, workdir: Path) -> dict[str, float]:
    output = workdir / "bare.mp4"
    command = bare_ytdlp(url, output, "-f", "18")
    process = subprocess.Popen(command, env=site_env(youtube))
    with Sampler(lambda: [process.pid]) as sampler:
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not output.exists():
        raise SystemExit(f"bare yt-dlp failed ({process.returncode})")
    output.unlink()
    peaks = sampler.per_process.get(process.pid, Peaks())
    # Its own high-water mark (VmHWM, read until it exited); wait4's ru_maxrss, which may
    # also be a child's (yt-dlp runs ffmpeg -version), only when no sample was taken.
    return {
        "rss_mb": (peaks.hwm or usage.ru_maxrss) / 1024,
        "uss_mb": peaks.uss / 1024,
        "pss_mb": peaks.pss / 1024,
    }


def run_service(
    service: Service, job: Callable[[], str], root: int, idle_tree_pss: int
) -> dict[str, float]:
    work_dir = service.data_dir.parent / "work"
    with Sampler(lambda: python_descendants(root), mark_under=work_dir) as sampler:
        job_id = job()
        status = service.wait_all([job_id])[job_id]
    if status != "completed":
        raise SystemExit(f"the service's job ended {status}: {service.job(job_id)['error']}")
    if not sampler.marked:
        raise SystemExit("no worker process was seen holding a file in the work directory")
    # Sampled peaks: a pool process's VmHWM would include the downloads it ran before.
    child = max((sampler.per_process[pid] for pid in sampler.marked), key=lambda p: p.rss)
    return {
        "rss_mb": child.rss / 1024,
        "uss_mb": child.uss / 1024,
        "pss_mb": child.pss / 1024,
        "tree_peak_pss_mb": sampler.tree_pss / 1024,
        "tree_added_pss_mb": (sampler.tree_pss - idle_tree_pss) / 1024,
        "tree_peak_rss_mb": sampler.tree_rss / 1024,
    }


def worker_root(launcher: int) -> int:
    """The Celery worker's main process: the launcher's child that runs Python."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in _children().get(launcher, []):
            if "celery" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return pid
        time.sleep(0.1)
    raise SystemExit("no worker process found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--default-request",
        action="store_true",
        help="the service downloads with thumbnail, metadata and captions (default: none)",
    )
    args = parser.parse_args()
    video = big_video(args.size_mb)
    options = {} if args.default_request else LEAN_REQUEST
    bare_runs: list[dict[str, float]] = []
    service_runs: list[dict[str, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="yds-bench-") as tmp,
        OfflineYouTube(Path(tmp) / "site") as youtube,
    ):
        url = publish(youtube, video)
        with running_service(youtube, Path(tmp) / "service") as service:
            root = worker_root(service.launcher.pid)
            idle = Sampler(lambda: python_descendants(root))
            with idle:  # the largest of a second's samples
                time.sleep(1)
            for _ in range(args.rounds):
                bare_runs.append(run_bare(youtube, url, Path(tmp)))
                job = partial(service.submit, url, **options)
                service_runs.append(run_service(service, job, root, idle.tree_pss))
    report(bare_runs, service_runs, idle.per_process, args)


def _median(runs: list[dict[str, float]], name: str) -> float:
    return statistics.median(run[name] for run in runs)


def report(
    bare: list[dict[str, float]],
    ours: list[dict[str, float]],
    idle: dict[int, Peaks],
    args: argparse.Namespace,
) -> None:
    # The headline: what one download costs the machine. Bare yt-dlp costs its whole
    # process (PSS: its own pages, and its share of libraries other processes map too);
    # the service's worker is running anyway, so a download costs what it adds to the
    # worker's processes (their PSS summed, at its peak, over the same sum when idle).
    lines = {
        "worker_memory": (_median(bare, "pss_mb"), _median(ours, "tree_added_pss_mb")),
        "worker_memory_child_rss": (_median(bare, "rss_mb"), _median(ours, "rss_mb")),
        "worker_memory_child_pss": (_median(bare, "pss_mb"), _median(ours, "pss_mb")),
        "worker_memory_child_uss": (_median(bare, "uss_mb"), _median(ours, "uss_mb")),
    }
    request = "default" if args.default_request else "lean"
    print(f"{args.size_mb} MB video, {request} request, {args.rounds} rounds, medians in MB")
    for pid, peaks in sorted(idle.items()):
        print(f"  idle worker process {pid}: {peaks}")
    for name, (baseline, service) in lines.items():
        print(f"{name} {service / baseline:.2f} {baseline:.1f} {service:.1f}")
    baseline, service = lines["worker_memory"]
    summary = {
        "name": "worker_memory",
        "size_mb": args.size_mb,
        "request": request,
        "target": 1.5,
        "ratio": round(service / baseline, 3),
        "ratios": {name: round(ours_mb / base_mb, 3) for name, (base_mb, ours_mb) in lines.items()},
        "idle_worker_pss_mb": round(sum(peaks.pss for peaks in idle.values()) / 1024, 1),
        "bare": bare,
        "service": ours,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
