"""Allocation tracing (MEMORY_TRACE_DIR): off by default, and when on, a SIGUSR2 writes a
whole snapshot of the process's allocations that says which lines grew, in the API
process and in a worker's pool process alike."""

from __future__ import annotations

import itertools
import os
import signal
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.core import memtrace
from app.core.config import Settings
from tests.support.fixtures.services import session_services
from tests.support.soak import running_soak, snapshot, top_growth

# A Redis database of the tests' own: the stack's worker consumes its queue.
REDIS_DB = 14


@pytest.fixture
def restore_tracing() -> Iterator[None]:
    memtrace._counter = itertools.count(1)
    handler = signal.getsignal(memtrace.SNAPSHOT_SIGNAL)
    tracing = tracemalloc.is_tracing()
    yield
    signal.signal(memtrace.SNAPSHOT_SIGNAL, handler)
    if not tracing:
        tracemalloc.stop()
    memtrace._directory = None
    memtrace._counter = itertools.count(1)


def test_off_by_default_it_traces_nothing_and_leaves_the_signal_alone(
    restore_tracing: None,
) -> None:
    handler = signal.getsignal(memtrace.SNAPSHOT_SIGNAL)
    assert Settings().memory_trace_dir == ""
    assert memtrace.setup_memory_trace(Settings(), role="api") is False
    assert signal.getsignal(memtrace.SNAPSHOT_SIGNAL) is handler
    assert memtrace.write_snapshot() is None


def test_the_signal_writes_a_whole_snapshot_that_shows_what_grew(
    tmp_path: Path, restore_tracing: None
) -> None:
    directory = tmp_path / "traces"
    assert memtrace.setup_memory_trace(Settings(memory_trace_dir=str(directory)), role="api")
    os.kill(os.getpid(), memtrace.SNAPSHOT_SIGNAL)
    before = snapshot_in(directory, 1)
    kept = [bytearray(1000) for _ in range(2000)]  # about 2 MB still alive at the next one
    os.kill(os.getpid(), memtrace.SNAPSHOT_SIGNAL)
    after = snapshot_in(directory, 2)
    assert kept
    # Named by role and process, nothing half-written left beside them.
    assert sorted(p.name for p in directory.iterdir()) == [
        f"api-{os.getpid()}-1.tracemalloc",
        f"api-{os.getpid()}-2.tracemalloc",
    ]
    growth = top_growth(before, after, 1)
    assert "test_memtrace.py" in growth[0], growth
    assert float(growth[0].split()[0].lstrip("+")) > 1900  # KiB


def test_a_snapshot_that_cannot_be_written_leaves_nothing_and_the_process_running(
    tmp_path: Path, restore_tracing: None
) -> None:
    directory = tmp_path / "traces"
    assert memtrace.setup_memory_trace(Settings(memory_trace_dir=str(directory)), role="api")
    directory.rmdir()
    directory.write_text("a file where the directory was")
    os.kill(os.getpid(), memtrace.SNAPSHOT_SIGNAL)  # handled: logged, nothing raised
    assert memtrace.write_snapshot() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traces"]


@pytest.mark.e2e
def test_the_api_and_the_worker_pool_process_write_snapshots(tmp_path: Path) -> None:
    redis_url = f"{session_services().redis_url}/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    with running_soak(tmp_path, redis_url=redis_url, videos=4) as soak:
        soak.run(2, 2)
        pool, api = soak.snapshots()
        soak.run(2, 2)
        # Each process answers its own signal with its own snapshot, and keeps running.
        pool_after = snapshot(soak.pool, soak.trace_dir)
        api_after = snapshot(soak.api.pid, soak.trace_dir)
        assert soak.api.proc.poll() is None and soak.worker.proc.poll() is None
        assert soak.http.get("/health").status_code == 200
    # The pool process traces what its jobs allocate (not what it inherited from the fork).
    assert any("yt_dlp" in stat.traceback[0].filename for stat in pool.statistics("filename"))
    assert any("/app/" in stat.traceback[0].filename for stat in api.statistics("filename"))
    assert pool_after.statistics("filename") and api_after.statistics("filename")


def snapshot_in(directory: Path, number: int) -> tracemalloc.Snapshot:
    path = directory / f"api-{os.getpid()}-{number}.tracemalloc"
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} was not written"
        time.sleep(0.01)
    return tracemalloc.Snapshot.load(str(path))
