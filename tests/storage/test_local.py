from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.storage.base import ContentMismatch, Integrity, LocalFile, build_key, verified
from app.storage.local import LocalStorageHandler


def test_store_moves_the_file_and_records_size_and_sha256(tmp_path: Path) -> None:
    storage = LocalStorageHandler(tmp_path / "store")
    source = tmp_path / "work" / "abc.mp4"
    source.parent.mkdir()
    payload = b"video" * 100_000
    source.write_bytes(payload)

    stored = storage.store(source, build_key("job-1", "abc.mp4"))

    assert not source.exists()
    assert stored.size == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()
    location = storage.locate(stored.key)
    assert isinstance(location, LocalFile) and location.path.read_bytes() == payload
    storage.delete_prefix("job-1")
    assert not (tmp_path / "store" / "job-1").exists()


@pytest.mark.parametrize("part", ["..", "../etc", "a/b", "", ".hidden", "name\n", "x" * 300])
def test_keys_cannot_escape_their_prefix(part: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        build_key("job", part)


def test_locate_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    storage = LocalStorageHandler(tmp_path)
    with pytest.raises(ValueError, match="escapes"):
        storage.locate("../outside")


def test_check_tells_ok_corrupt_and_missing_files(tmp_path: Path) -> None:
    storage = LocalStorageHandler(tmp_path / "store")
    source = tmp_path / "a.bin"
    source.write_bytes(b"the recorded bytes")
    stored = storage.store(source, "job/a.bin")
    path = tmp_path / "store" / "job" / "a.bin"

    def check() -> Integrity:
        return storage.check(stored.key, size=stored.size, sha256=stored.sha256)

    assert check() is Integrity.OK
    path.write_bytes(b"the recorded bytez")
    assert check() is Integrity.CORRUPT, "same size, other bytes"
    path.write_bytes(b"short")
    assert check() is Integrity.CORRUPT
    path.unlink()
    assert check() is Integrity.MISSING


async def _collect(chunks: list[bytes], *, size: int, sha256: str) -> list[bytes]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    received: list[bytes] = []
    try:
        async for chunk in verified(source(), size=size, sha256=sha256):
            received.append(chunk)
    except ContentMismatch:
        received.append(b"<aborted>")
    return received


async def test_verified_holds_the_last_chunk_back_until_the_sha256_matches() -> None:
    chunks = [b"abc", b"def", b"ghi"]
    digest = hashlib.sha256(b"abcdefghi").hexdigest()

    assert await _collect(chunks, size=9, sha256=digest) == chunks
    other = [b"abc", b"dXf", b"ghi"]
    assert await _collect(other, size=9, sha256=digest) == [b"abc", b"dXf", b"<aborted>"]
    assert await _collect(chunks[:2], size=9, sha256=digest) == [b"abc", b"<aborted>"]
    assert (await _collect([*chunks, b"j"], size=9, sha256=digest))[-1] == b"<aborted>"
