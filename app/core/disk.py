"""Free disk space, so that new work is refused before a disk fills up."""

from __future__ import annotations

import shutil
from pathlib import Path

GB = 1024**3


def free_gb(path: Path) -> float:
    """Free space on the file system holding `path` (its nearest existing parent)."""
    probe = path.resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / GB


def lowest_free_gb(*paths: Path) -> tuple[float, Path]:
    return min((free_gb(path), path) for path in paths)
