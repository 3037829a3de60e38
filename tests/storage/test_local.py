from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.storage.base import LocalFile, build_key
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
