"""yt-dlp's HTTP reads are paced to the speed inside `paced_reads()`, and only there."""

from __future__ import annotations

import threading

from yt_dlp.downloader.common import FileDownloader
from yt_dlp.downloader.http import HttpFD

from app.downloads.engine.pacing import MAX_READ, MIN_READ, paced_reads

MB = 1024 * 1024


def test_reads_last_about_a_tenth_of_a_second_within_bounds() -> None:
    with paced_reads():
        assert HttpFD.best_block_size(1.0, MB) == MB // 10  # 1 MB/s
        assert HttpFD.best_block_size(2.0, 4 * 1024) == MIN_READ  # 2 KB/s: a slow link
        assert HttpFD.best_block_size(0.1, 4 * MB) == MAX_READ  # loopback


def test_a_read_grows_at_most_twofold() -> None:
    """A read served from buffered bytes takes no time; it says nothing of the speed."""
    with paced_reads():
        assert HttpFD.best_block_size(0.0001, 64 * 1024) == 128 * 1024
        assert HttpFD.best_block_size(0.0, 64 * 1024) == 128 * 1024


def test_outside_the_scope_yt_dlp_sizes_its_reads_itself() -> None:
    with paced_reads():
        pass
    assert HttpFD.best_block_size(1.0, MB) == FileDownloader.best_block_size(1.0, MB)
    seen: list[int] = []
    with paced_reads():
        other = threading.Thread(target=lambda: seen.append(HttpFD.best_block_size(1.0, MB)))
        other.start()
        other.join()
    assert seen == [FileDownloader.best_block_size(1.0, MB)], "the scope is this thread's"
