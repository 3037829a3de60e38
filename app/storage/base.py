"""The storage interface: files move by path, never whole in memory, so a worker's memory
does not grow with the size of what it stores."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from app.storage.digests import FileDigest

CHUNK_SIZE = 1024 * 1024
_KEY_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


MEDIA_TYPES = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "m4a": "audio/mp4",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}


def media_type_for(extension: str) -> str:
    return MEDIA_TYPES.get(extension.lower(), "application/octet-stream")


class StorageUnavailable(Exception):
    """The storage backend could not be reached or refused the write; worth retrying."""


class Integrity(enum.StrEnum):
    """What checking a stored object against its recorded size and SHA-256 found."""

    OK = "ok"
    CORRUPT = "corrupt"
    MISSING = "missing"


class ContentMismatch(Exception):
    """The bytes being read differ from the recorded size or SHA-256."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class LocalFile:
    """A stored file the API can stream itself (local storage)."""

    path: Path


@dataclass(frozen=True)
class RemoteFile:
    """A stored file the client fetches from elsewhere (a presigned or CDN URL)."""

    url: str


class StorageHandler(Protocol):
    name: str

    def store(
        self,
        source: Path,
        key: str,
        *,
        media_type: str | None = None,
        digest: FileDigest | None = None,
    ) -> StoredObject:
        """Move `source` into storage under `key`; the source is gone afterwards. `digest`,
        when it still names `source` unchanged, saves hashing it again."""

    def locate(
        self, key: str, *, filename: str | None = None, media_type: str | None = None
    ) -> LocalFile | RemoteFile:
        """Where a client can read the object (`filename` names the download)."""

    def read(self, key: str) -> bytes:
        """Small objects only (health checks, tests)."""

    def check(self, key: str, *, size: int, sha256: str) -> Integrity:
        """Whether the object still has the recorded size and SHA-256 (the integrity scrub).
        Raises StorageUnavailable when the backend cannot tell."""

    def write(self, key: str, data: bytes) -> None:
        """Small objects only (health checks)."""

    def delete(self, key: str) -> None:
        """Remove one object; a missing object is not an error."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under `prefix/`."""

    def abort_incomplete_uploads(self, older_than: dt.timedelta) -> int:
        """Clean up uploads a killed process left half done; returns how many."""


def build_key(*parts: str) -> str:
    """A storage key from safe path parts; refuses anything that could escape its prefix."""
    for part in parts:
        if not _KEY_PART.fullmatch(part) or ".." in part:
            raise ValueError(f"unsafe storage key part {part!r}")
    return "/".join(parts)


def size_and_sha256(source: Path, digest: FileDigest | None) -> tuple[int, str]:
    """`digest` when it still names `source` unchanged, else one read of the file."""
    if digest is not None and digest.matches(source):
        return digest.size, digest.sha256
    with source.open("rb") as stream:
        return sha256_of(stream)


def sha256_of(stream: BinaryIO) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def verified(chunks: AsyncIterable[bytes], *, size: int, sha256: str) -> AsyncIterator[bytes]:
    """Pass `chunks` through, holding the last one back until the whole content is known to
    match `size` and `sha256`: on a mismatch ContentMismatch is raised instead, so a reader
    never receives a complete-looking copy of damaged bytes."""
    digest = hashlib.sha256()
    seen = 0
    pending: bytes | None = None
    async for chunk in chunks:
        digest.update(chunk)
        seen += len(chunk)
        if seen > size:
            raise ContentMismatch(f"more than the recorded {size} bytes")
        if pending:
            yield pending
        pending = chunk
    if seen != size:
        raise ContentMismatch(f"{seen} bytes instead of the recorded {size}")
    if digest.hexdigest() != sha256:
        raise ContentMismatch("the SHA-256 differs from the recorded one")
    if pending:
        yield pending
