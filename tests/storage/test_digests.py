"""Hashing a file as it is written: the digest is the one of the final bytes, or none."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from app.storage.digests import FileDigest, FileIdentity, GrowingFileDigest, digest_of
from app.storage.local import LocalStorageHandler

BLOCK = 64 * 1024


def hashed_at_least(follower: GrowingFileDigest, size: int, timeout: float = 30.0) -> None:
    """Wait for the follower to have hashed `size` bytes."""
    deadline = time.monotonic() + timeout
    while follower.hashed < size:
        assert time.monotonic() < deadline, f"hashed {follower.hashed} of {size} bytes"
        time.sleep(0.005)


def test_a_file_hashed_while_it_grows_has_the_digest_of_its_final_bytes(tmp_path: Path) -> None:
    partial, final = tmp_path / "video.mp4.part", tmp_path / "video.mp4"
    follower = GrowingFileDigest(partial, poll_seconds=0.001).start()
    blocks = [os.urandom(BLOCK) for _ in range(64)]
    with partial.open("wb") as stream:
        for number, block in enumerate(blocks):
            stream.write(block)
            stream.flush()
            if number % 16 == 15:
                # The follower catches up with the writer, then waits for more.
                hashed_at_least(follower, (number + 1) * BLOCK)
    partial.rename(final)  # as yt-dlp does once the download ends

    digest = follower.finish(timeout=30)

    assert digest is not None
    assert digest.sha256 == hashlib.sha256(final.read_bytes()).hexdigest()
    assert digest.size == len(blocks) * BLOCK
    assert digest.matches(final)


def test_a_file_truncated_and_written_again_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4.part"
    follower = GrowingFileDigest(path, poll_seconds=0.001).start()
    path.write_bytes(os.urandom(8 * BLOCK))
    hashed_at_least(follower, 8 * BLOCK)
    rewritten = os.urandom(3 * BLOCK)
    path.write_bytes(rewritten)  # O_TRUNC: same inode, shorter

    digest = follower.finish(timeout=30)

    assert digest is not None and digest.sha256 == hashlib.sha256(rewritten).hexdigest()
    assert digest.matches(path)


def test_a_file_started_over_at_the_same_length_is_hashed_again(tmp_path: Path) -> None:
    """When the writer says it started over (yt-dlp's byte count went down), what was
    hashed is dropped, whatever the follower saw of the file."""
    path = tmp_path / "video.mp4.part"
    follower = GrowingFileDigest(path, poll_seconds=0.001).start()
    path.write_bytes(os.urandom(4 * BLOCK))
    rewritten = os.urandom(4 * BLOCK)
    path.write_bytes(rewritten)
    follower.restart()

    digest = follower.finish(timeout=30)

    assert digest is not None and digest.sha256 == hashlib.sha256(rewritten).hexdigest()


def test_a_file_replaced_after_hashing_no_longer_matches_and_is_hashed_by_storage(
    tmp_path: Path,
) -> None:
    source = tmp_path / "video.mp4"
    source.write_bytes(b"downloaded" * 10_000)
    stale = digest_of(source)
    # What ffmpeg does to add metadata: a new file renamed over the old one.
    rewritten = tmp_path / "video.temp.mp4"
    rewritten.write_bytes(b"with metadata" * 10_000)
    rewritten.replace(source)
    assert not stale.matches(source)

    stored = LocalStorageHandler(tmp_path / "store").store(source, "job/video.mp4", digest=stale)

    assert stored.sha256 == hashlib.sha256(b"with metadata" * 10_000).hexdigest()
    assert stored.size == 130_000


def test_storage_takes_the_digest_of_an_unchanged_file_without_reading_it(tmp_path: Path) -> None:
    source = tmp_path / "video.mp4"
    source.write_bytes(b"x" * 1000)
    # A digest that names this very file: storage has no reason to read the bytes again.
    recorded = FileDigest("ab" * 32, 1000, FileIdentity.of(source.stat()))

    stored = LocalStorageHandler(tmp_path / "store").store(source, "job/video.mp4", digest=recorded)

    assert stored.sha256 == "ab" * 32


def test_an_abandoned_follower_of_a_file_never_written_ends(tmp_path: Path) -> None:
    follower = GrowingFileDigest(tmp_path / "never.part", poll_seconds=0.001).start()
    assert follower.finish(timeout=30) is None
