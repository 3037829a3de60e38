"""A soak: many jobs through ONE Celery pool process and many progress-socket cycles against
ONE API process, with their resident memory read after a warm-up and at the end, and the
allocations that grew in between (tracemalloc snapshots taken inside both processes through
MEMORY_TRACE_DIR, `app.core.memtrace`).

Shared by `benchmarks.soak` (1,000 jobs, 1,000 cycles) and the bounded `memory` test
(`tests/worker/test_soak.py`). The service runs as a user runs it (`python -m app.serve`,
`celery … worker -c 1`) on SQLite, fetching tiny clips from the offline YouTube site.

A socket cycle opens `WS /ws/progress/{job}` on a job still queued behind the worker (so the
stream takes a mailbox in the process's hub and waits for events), reads the snapshot and
closes: what a browser tab does when it is opened on a running download and closed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.support.constants import TEST_KEY_SECRET
from tests.support.databases import migrate
from tests.support.factories import issue_key
from tests.support.offline_youtube import OfflineYouTube
from tests.support.stack import ManagedProcess, stack_env, start_api, start_worker

PLAYLIST = "PLsoakJobs"
UNLIMITED = "100000000"
TERMINAL = {"completed", "failed", "canceled", "expired"}
# Jobs POSTed at a time: the worker always has the next one queued, and the sockets of a
# round have queued jobs to watch.
ROUND = 10
# Allocation lines ignored in the comparison: the tracer's own bookkeeping.
IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def rss_kb(pid: int) -> int:
    """The process's resident memory (VmRSS), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def pool_process(worker: int, within: float = 30) -> int:
    """The one pool process of a `-c 1` worker (the main process's Python child)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for child in children(worker):
            try:
                if "celery" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                    return child
            except OSError:
                continue
        time.sleep(0.1)
    raise TimeoutError(f"worker {worker} has no pool process")


@dataclass
class Soak:
    """A running API and one-process worker, a key, and where snapshots are written."""

    api: ManagedProcess
    worker: ManagedProcess
    pool: int
    base_url: str
    key: str
    urls: list[str]
    trace_dir: Path
    options: dict[str, object] = field(default_factory=dict)  # of every POST
    http: httpx.Client = field(init=False)
    used: int = 0  # videos of `urls` already downloaded

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.base_url, headers={"X-API-Key": self.key}, timeout=60
        )

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)

    def submit(self, url: str) -> str:
        response = self.http.post("/api/v1/downloads", json={"url": url, **self.options})
        response.raise_for_status()
        return str(response.json()["job_id"])

    def wait_ended(self, job_ids: list[str], within: float = 300) -> dict[str, str]:
        """Poll until every job ended; their statuses (in submission order, so the first
        one still open is usually the one running)."""
        ended: dict[str, str] = {}
        deadline = time.monotonic() + within
        for job_id in job_ids:
            while True:
                response = self.http.get(f"/api/v1/downloads/{job_id}")
                response.raise_for_status()
                status = str(response.json()["status"])
                if status in TERMINAL:
                    ended[job_id] = status
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} still {status} after {within:.0f} s")
                time.sleep(0.05)
        return ended

    def run(self, jobs: int, cycles: int, progress: Callable[[int], None] | None = None) -> None:
        """`jobs` downloads, each of a video not downloaded before, POSTed `ROUND` at a
        time, and `cycles` socket cycles spread over the rounds on the round's last job
        (queued behind the others while its sockets open and close)."""
        if self.used + jobs > len(self.urls):
            raise ValueError(f"only {len(self.urls) - self.used} videos left")
        rounds = max(1, -(-jobs // ROUND))
        done_jobs = done_cycles = 0
        for number in range(rounds):
            count = min(ROUND, jobs - done_jobs)
            urls = self.urls[self.used : self.used + count]
            self.used += count
            job_ids = [self.submit(url) for url in urls]
            share = cycles * (number + 1) // rounds - done_cycles
            # In a thread of its own: under pytest an event loop may already run in this one
            # (left by an async fixture), where asyncio.run() refuses to start another.
            sockets = socket_cycles(self.ws_url, self.key, job_ids[-1], share)
            with ThreadPoolExecutor(max_workers=1) as runner:
                runner.submit(asyncio.run, sockets).result()
            done_cycles += share
            statuses = self.wait_ended(job_ids)
            failed = {job: status for job, status in statuses.items() if status != "completed"}
            if failed:
                raise AssertionError(f"jobs did not complete: {failed}\n{self.logs()}")
            done_jobs += count
            if progress is not None:
                progress(done_jobs)

    def rss(self) -> tuple[int, int]:
        """Resident kB of the worker's pool process and of the API process."""
        return rss_kb(self.pool), rss_kb(self.api.pid)

    def snapshots(self) -> tuple[tracemalloc.Snapshot, tracemalloc.Snapshot]:
        """A snapshot of the allocations traced in the pool process and in the API."""
        return snapshot(self.pool, self.trace_dir), snapshot(self.api.pid, self.trace_dir)

    def logs(self) -> str:
        return "\n".join(
            f"----- {p.name} -----\n{p.log()[-6000:]}" for p in (self.api, self.worker)
        )


async def socket_cycles(ws_url: str, key: str, job_id: str, count: int) -> None:
    """Open the job's progress socket, read its snapshot, close; `count` times."""
    for _ in range(count):
        async with connect(
            f"{ws_url}/ws/progress/{job_id}", additional_headers={"X-API-Key": key}
        ) as socket:
            async with asyncio.timeout(30):
                first = await socket.recv()
            if '"type":"snapshot"' not in str(first).replace(" ", ""):
                raise AssertionError(f"the stream did not start with a snapshot: {first!r}")


def snapshot(pid: int, directory: Path, within: float = 120) -> tracemalloc.Snapshot:
    """Ask the process for a snapshot (SIGUSR2) and load it once it is written."""
    before = set(directory.glob(f"*-{pid}-*.tracemalloc"))
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        written = set(directory.glob(f"*-{pid}-*.tracemalloc")) - before
        if written:
            path = written.pop()
            taken = tracemalloc.Snapshot.load(str(path))
            path.unlink()
            return taken.filter_traces(IGNORED)
        time.sleep(0.1)
    raise TimeoutError(f"process {pid} wrote no allocation snapshot in {within:.0f} s")


def top_growth(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, count: int = 5
) -> list[str]:
    """The lines whose live allocations grew most, as `+KiB (+blocks) file:line`."""
    grown = [stat for stat in after.compare_to(before, "lineno") if stat.size_diff > 0]
    grown.sort(key=lambda stat: stat.size_diff, reverse=True)
    lines = []
    for stat in grown[:count]:
        frame = stat.traceback[0]
        where = f"{shorten(frame.filename)}:{frame.lineno}"
        lines.append(f"+{stat.size_diff / 1024:.1f} KiB (+{stat.count_diff} blocks) {where}")
    return lines


def shorten(filename: str) -> str:
    for marker in ("site-packages/", "/app/", "/tests/", "/lib/python"):
        at = filename.rfind(marker)
        if at >= 0:
            return filename[at + 1 :] if marker.startswith("/") else filename[at:]
    return filename


def traced_kib(taken: tracemalloc.Snapshot) -> float:
    return sum(stat.size for stat in taken.statistics("filename")) / 1024


@contextmanager
def running_soak(
    workdir: Path,
    *,
    redis_url: str,
    videos: int,
    options: Mapping[str, object] | None = None,
    trace: bool = True,
    **settings: str,
) -> Iterator[Soak]:
    """The offline site with `videos` distinct clips, the API and a `-c 1` worker on a fresh
    SQLite database (allocation tracing on in both, unless not `trace`); stopped after.
    `options` go into every download request."""
    workdir.mkdir(parents=True, exist_ok=True)
    trace_dir = workdir / "traces"
    with OfflineYouTube(workdir / "site") as youtube:
        ids = [f"soak{n:07d}" for n in range(videos)]
        youtube.add_playlist(PLAYLIST, ids)
        database_url = f"sqlite+aiosqlite:///{workdir / 'app.db'}"
        migrate(database_url)
        env = stack_env(
            database_url=database_url,
            base_dir=workdir,
            youtube=youtube,
            REDIS_URL=redis_url,
            BROKER_URL=redis_url,
            API_KEY_SECRET=TEST_KEY_SECRET,
            MEMORY_TRACE_DIR=str(trace_dir) if trace else "",
            MAX_ACTIVE_JOBS_PER_KEY=UNLIMITED,
            MAX_JOBS_PER_DAY_PER_KEY=UNLIMITED,
            RATE_LIMIT_PER_MINUTE=UNLIMITED,
            RATE_LIMIT_PER_IP_PER_MINUTE=UNLIMITED,
            MIN_FREE_DISK_GB="0",
            **settings,
        )
        key = issue_key(database_url, "soak")
        worker = start_worker(env, workdir, name="soak-worker", concurrency=1)
        try:
            api, base_url = start_api(env, workdir, name="soak-api")
        except BaseException:
            worker.stop()
            raise
        soak = Soak(
            api=api,
            worker=worker,
            pool=pool_process(worker.pid),
            base_url=base_url,
            key=key,
            urls=[youtube.video_url(video_id) for video_id in ids],
            trace_dir=trace_dir,
            options=dict(options or {}),
        )
        try:
            with soak.http:
                yield soak
        finally:
            api.stop()
            worker.stop()
