"""A worker asked to shut down (SIGTERM) is *draining*: running jobs finish within the grace
period or hand themselves back. Pool processes learn it from a flag file their parent sets."""

from __future__ import annotations

import os
from pathlib import Path


def _drain_flag(work_dir: Path, pid: int) -> Path:
    return work_dir / f".draining-{pid}"


def is_draining(work_dir: Path) -> bool:
    return any(_drain_flag(work_dir, pid).exists() for pid in (os.getppid(), os.getpid()))


def start_draining(work_dir: Path) -> None:
    """Called in the worker's main process when it is asked to stop."""
    work_dir.mkdir(parents=True, exist_ok=True)
    _drain_flag(work_dir, os.getpid()).touch()


def stop_draining(work_dir: Path) -> None:
    """Called when the worker starts: a flag left by an earlier process of this pid goes."""
    _drain_flag(work_dir, os.getpid()).unlink(missing_ok=True)
