"""Allocation tracing for finding leaks, off unless MEMORY_TRACE_DIR names a directory.

When it is set, `setup_memory_trace` (called by the API at start-up and by each worker pool
process after the fork) starts Python's `tracemalloc` and lets the operator ask for a
snapshot with a signal: `kill -USR2 <pid>` writes `<role>-<pid>-<n>.tracemalloc` into the
directory (atomically: a snapshot appears whole or not at all). Two snapshots of one
process compared (`tracemalloc.Snapshot.load(a)`, `.compare_to(b, "lineno")`) say which
lines of code hold the memory that grew. `benchmarks.soak` does exactly that.

Nothing here is reachable through the API: only the process's owner can send it a signal,
and only the operator chooses the directory. Off, it costs an import and a settings read.
Tracing slows the process (a short download took about 1.7 times as long) and adds some
tens of bytes per live allocation: a diagnostic setting, not one to leave on.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import tracemalloc
from pathlib import Path
from types import FrameType

from app.core.config import Settings

logger = logging.getLogger(__name__)

SNAPSHOT_SIGNAL = signal.SIGUSR2
SUFFIX = ".tracemalloc"
# Frames kept per allocation: the line that allocated is what a comparison groups by.
FRAMES = 1

_role = ""
_directory: Path | None = None
_counter = itertools.count(1)


def setup_memory_trace(settings: Settings, *, role: str) -> bool:
    """Start tracing this process's allocations and install the snapshot signal, when
    MEMORY_TRACE_DIR is set; returns whether it is on. Called from the main thread."""
    global _role, _directory
    if not settings.memory_trace_dir:
        return False
    directory = Path(settings.memory_trace_dir)
    directory.mkdir(parents=True, exist_ok=True)
    _role, _directory = role, directory
    if not tracemalloc.is_tracing():
        tracemalloc.start(FRAMES)
    signal.signal(SNAPSHOT_SIGNAL, _on_signal)
    logger.warning(
        "allocation tracing on (MEMORY_TRACE_DIR): kill -%s %d writes a snapshot to %s",
        SNAPSHOT_SIGNAL.name.removeprefix("SIG"),
        os.getpid(),
        directory,
    )
    return True


def write_snapshot() -> Path | None:
    """Write a snapshot of this process's traced allocations; its path (None: off)."""
    if _directory is None or not tracemalloc.is_tracing():
        return None
    snapshot = tracemalloc.take_snapshot()
    path = _directory / f"{_role}-{os.getpid()}-{next(_counter)}{SUFFIX}"
    draft = path.with_name(f".{path.name}.part")
    try:
        snapshot.dump(str(draft))
        draft.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            draft.unlink()
        logger.exception("could not write the allocation snapshot %s", path)
        return None
    return path


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    path = write_snapshot()
    if path is not None:
        logger.warning("allocation snapshot written: %s", path)
