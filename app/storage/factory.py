from __future__ import annotations

from app.core.config import Settings
from app.storage.base import StorageHandler
from app.storage.local import LocalStorageHandler


def get_storage_handler(settings: Settings) -> StorageHandler:
    """The storage backend for this process (local now; S3 joins in production mode)."""
    return LocalStorageHandler(settings.download_base_path)
