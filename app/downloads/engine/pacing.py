"""Paced reads for yt-dlp's HTTP downloader: each read is about a tenth of a second of
bytes at the current speed (4 KiB to 4 MiB, and at most twice the last one).

yt-dlp reports progress once per read. Left to itself it grows its reads to about a
second's worth, which makes progress jerky on a slow link; a fixed small read keeps the
events coming but costs a Python loop turn (read, write, hook) per read, which on a fast
link is most of the worker's CPU. A tenth of a second gives the progress tracker, which
publishes at most every 0.25 s, a few hook calls per event on a slow link (its ~4 events
a second), and few, large reads on a fast one. The floor is small because a pause or a
cancel is seen only between two reads: 4 KiB is two seconds at 2 KB/s.

yt-dlp has no option for the read size, so `HttpFD.best_block_size` is replaced, once,
by a function that paces only inside `paced_reads()` (a thread-local flag: the downloads
of this service), and defers to yt-dlp's own elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from yt_dlp.downloader.http import HttpFD

MIN_READ = 4 * 1024
MAX_READ = 4 * 1024 * 1024
PACE_SECONDS = 0.1

_scope = threading.local()
_yt_dlp_block_size: Any = HttpFD.best_block_size


def paced_block_size(elapsed_seconds: float, bytes_read: int) -> int:
    """yt-dlp's next read: paced inside `paced_reads()`, yt-dlp's own choice elsewhere."""
    if not getattr(_scope, "paced", False):
        return int(_yt_dlp_block_size(elapsed_seconds, bytes_read))
    return pace(elapsed_seconds, bytes_read)


def pace(elapsed_seconds: float, bytes_read: int) -> int:
    """The next read's size: PACE_SECONDS at the speed of the last read, within bounds."""
    # At most twice the last read, as yt-dlp does: a read served from bytes already buffered
    # takes no time, and says nothing of the link's speed.
    ceiling = min(max(2 * bytes_read, MIN_READ), MAX_READ)
    if elapsed_seconds <= 0:
        return ceiling
    return int(min(max(bytes_read / elapsed_seconds * PACE_SECONDS, MIN_READ), ceiling))


def _install() -> None:
    if HttpFD.__dict__.get("best_block_size") is not _PACED:
        HttpFD.best_block_size = _PACED


@contextmanager
def paced_reads() -> Iterator[None]:
    """yt-dlp's HTTP reads in this thread are paced while inside."""
    _install()
    previous = getattr(_scope, "paced", False)
    _scope.paced = True
    try:
        yield
    finally:
        _scope.paced = previous


_PACED = staticmethod(paced_block_size)
