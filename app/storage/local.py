"""Local disk storage under DOWNLOAD_BASE_PATH."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

from app.storage.base import (
    Integrity,
    LocalFile,
    RemoteFile,
    StorageUnavailable,
    StoredObject,
    sha256_of,
    size_and_sha256,
)
from app.storage.digests import FileDigest

INCOMING_PREFIX = ".incoming-"


class LocalStorageHandler:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return path

    def store(
        self,
        source: Path,
        key: str,
        *,
        media_type: str | None = None,
        digest: FileDigest | None = None,
    ) -> StoredObject:
        try:
            return self._store(source, key, digest)
        except OSError as exc:
            raise StorageUnavailable(f"storing {key} failed: {exc}") from exc

    def _store(self, source: Path, key: str, known: FileDigest | None) -> StoredObject:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hash while the file is still in the work directory (unless it was hashed as it was
        # written), then move it in one rename (or a copy to a temporary name + rename
        # across filesystems) so readers never see a half-written object.
        size, digest = size_and_sha256(source, known)
        try:
            os.replace(source, target)
        except OSError:
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=INCOMING_PREFIX)
            os.close(fd)
            try:
                shutil.copyfile(source, tmp_name)
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            source.unlink()
        return StoredObject(key=key, size=size, sha256=digest)

    def locate(
        self, key: str, *, filename: str | None = None, media_type: str | None = None
    ) -> LocalFile | RemoteFile:
        return LocalFile(self._path(key))

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def check(self, key: str, *, size: int, sha256: str) -> Integrity:
        path = self._path(key)
        try:
            if not path.is_file():
                return Integrity.MISSING
            if path.stat().st_size != size:
                return Integrity.CORRUPT
            with path.open("rb") as stream:
                _, digest = sha256_of(stream)
        except FileNotFoundError:
            return Integrity.MISSING
        except OSError as exc:
            raise StorageUnavailable(f"checking {key} failed: {exc}") from exc
        return Integrity.OK if digest == sha256 else Integrity.CORRUPT

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def abort_incomplete_uploads(self, older_than: dt.timedelta) -> int:
        """Remove `.incoming-*` copies a killed cross-filesystem move left behind."""
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for leftover in self.root.glob(f"*/{INCOMING_PREFIX}*"):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed
