"""Free disk space, so that new work is refused before a disk fills up."""

from __future__ import annotations

import shutil
import time
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


class FreeDiskGauge:
    """The lowest free space among `paths`, measured on a clock (`refresh`, every
    FREE_DISK_CHECK_SECONDS in the API) rather than with a statvfs per request."""

    def __init__(self, *paths: Path, max_age: float) -> None:
        self.paths = paths
        self.max_age = max_age
        self._reading: tuple[float, Path] | None = None
        self._taken_at = 0.0

    def refresh(self) -> tuple[float, Path]:
        self._reading = lowest_free_gb(*self.paths)
        self._taken_at = time.monotonic()
        return self._reading

    def lowest(self) -> tuple[float, Path]:
        """The latest reading; measured now when there is none yet or it is older than
        `max_age` (the refresh fell behind), so a stale figure never lets work through."""
        if self._reading is None or time.monotonic() - self._taken_at > self.max_age:
            return self.refresh()
        return self._reading
