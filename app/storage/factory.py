from __future__ import annotations

from app.core.config import Settings, StorageBackend
from app.storage.base import StorageHandler
from app.storage.local import LocalStorageHandler


def get_storage_handler(settings: Settings) -> StorageHandler:
    """Local disk or S3: STORAGE_BACKEND when set, else S3 on AWS (ENVIRONMENT=aws or ECS)."""
    if settings.effective_storage is StorageBackend.S3:
        # Imported only when configured: boto3 costs every process about 15 MB.
        from app.storage.s3 import S3StorageHandler

        return S3StorageHandler(settings)
    return LocalStorageHandler(settings.download_base_path)
