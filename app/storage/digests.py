"""SHA-256 of a file while it is being written, so storing it needs no second full read.

A `GrowingFileDigest` follows a file that one writer fills from the start (yt-dlp's
`.part` file): a thread reads what has been written and waits for more, starts over when
the file shrinks or is replaced, and once told the writer is done reads to the end. The
`FileDigest` it gives names the file it hashed (device, inode, size, modification time):
storage reuses it only for a file that still is exactly that one, and hashes anything
else (a file ffmpeg rewrote is a new inode)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from io import FileIO
from pathlib import Path

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileIdentity:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class FileDigest:
    """The SHA-256 and size of the file `identity` names."""

    sha256: str
    size: int
    identity: FileIdentity

    def matches(self, path: Path) -> bool:
        """Whether `path` is still the very file that was hashed, unchanged."""
        try:
            return FileIdentity.of(path.stat()) == self.identity
        except OSError:
            return False


def digest_of(path: Path) -> FileDigest:
    """Hash a finished file (one read), named by what it was before and after the read."""
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as stream:
        before = FileIdentity.of(os.fstat(stream.fileno()))
        digest = hashlib.sha256()
        size = 0
        while read := stream.readinto(buffer):
            digest.update(view[:read])
            size += read
        after = FileIdentity.of(os.fstat(stream.fileno()))
    if before != after or size != after.size:
        raise OSError(f"{path} changed while it was hashed")
    return FileDigest(digest.hexdigest(), size, after)


class GrowingFileDigest:
    """Hashes `path` as a single writer appends to it; see the module's docstring."""

    def __init__(self, path: Path, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.path = path
        self._poll = poll_seconds
        self._written = threading.Event()  # the writer is done: read to the end and stop
        self._stop = threading.Event()  # abandoned: stop without a result
        self._restart = threading.Event()
        self._result: FileDigest | None = None
        self.hashed = 0  # bytes hashed so far (of the current pass over the file)
        self._thread = threading.Thread(target=self._follow, name="digest", daemon=True)

    def start(self) -> GrowingFileDigest:
        self._thread.start()
        return self

    def restart(self) -> None:
        """The writer started the file over (it may have kept its inode and length)."""
        self._restart.set()

    def finish(self, timeout: float | None = None) -> FileDigest | None:
        """The writer is done: the digest of the whole file, or None when it could not be
        had in `timeout` seconds (or the file vanished)."""
        self._written.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.abandon()
            return None
        return self._result

    def abandon(self) -> None:
        self._stop.set()

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                stream = self._open()
                if stream is None:
                    return
                with stream:
                    if self._hash(stream):
                        return
        except OSError as exc:
            logger.debug("stopped hashing %s: %s", self.path, exc)

    def _open(self) -> FileIO | None:
        """The file once it exists (None when told to stop, or done, before it does)."""
        while not self._stop.is_set():
            try:
                return self.path.open("rb", buffering=0)
            except FileNotFoundError:
                if self._written.is_set():
                    return None
                self._stop.wait(self._poll)
        return None

    def _hash(self, stream: FileIO) -> bool:
        """Follow `stream` to the end of the writing: True when done (a result or not),
        False to start over on a fresh open."""
        self._restart.clear()
        digest = hashlib.sha256()
        position = 0
        # One buffer read into again and again: a new megabyte for each read would be
        # mapped, faulted in and unmapped each time.
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while not self._stop.is_set():
            if self._restart.is_set() or self._replaced(stream, position):
                return False
            # Read the flag before the data: once set, what is read next is the whole rest.
            done = self._written.is_set()
            read = stream.readinto(buffer)
            if read:
                digest.update(view[:read])
                position += read
                self.hashed = position
                continue
            if done:
                stat = os.fstat(stream.fileno())
                if stat.st_size == position and not self._restart.is_set():
                    self._result = FileDigest(digest.hexdigest(), position, FileIdentity.of(stat))
                return True
            self._written.wait(self._poll)
        return True

    def _replaced(self, stream: FileIO, position: int) -> bool:
        """The file shrank below what was hashed, or the path names another file now."""
        stat = os.fstat(stream.fileno())
        if stat.st_size < position:
            return True
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False  # renamed to its final name: the open file is still the one
        return (current.st_dev, current.st_ino) != (stat.st_dev, stat.st_ino)
