"""S3 (or MinIO, R2, moto) storage: streamed multipart uploads, presigned or CDN URLs."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.core.config import Settings
from app.storage.base import (
    Integrity,
    LocalFile,
    RemoteFile,
    StorageUnavailable,
    StoredObject,
    size_and_sha256,
)
from app.storage.digests import FileDigest

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# Memory per upload stays near max_concurrency * multipart_chunksize, whatever the file size.
TRANSFER = TransferConfig(
    multipart_threshold=16 * MB,
    multipart_chunksize=16 * MB,
    max_concurrency=4,
    use_threads=True,
)
DELETE_BATCH = 1000
NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def s3_client(settings: Settings, endpoint_url: str | None = None) -> Any:
    config = Config(
        region_name=settings.aws_region,
        signature_version="s3v4",
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        # Newer botocore adds CRC checksums to every request by default, which several
        # S3-compatible stores (older MinIO, R2) reject; send them only when required.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    endpoint = endpoint_url or settings.s3_endpoint_url or None
    return boto3.client("s3", endpoint_url=endpoint, config=config)


class S3StorageHandler:
    name = "s3"

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.bucket = settings.s3_bucket_name
        self.prefix = settings.s3_prefix
        self.cloudfront_domain = settings.s3_cloudfront_domain.rstrip("/")
        self.url_ttl = settings.presigned_url_ttl
        self.client = client or s3_client(settings)
        # Presigned URLs must name a host the client can reach, which may differ from ours.
        public = settings.s3_public_endpoint_url
        self.presigner = s3_client(settings, public) if public else self.client

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def store(
        self,
        source: Path,
        key: str,
        *,
        media_type: str | None = None,
        digest: FileDigest | None = None,
    ) -> StoredObject:
        size, sha256 = size_and_sha256(source, digest)
        extra: dict[str, Any] = {"Metadata": {"sha256": sha256}}
        if media_type:
            extra["ContentType"] = media_type
        # upload_file streams from disk in parts and aborts the multipart upload itself
        # when a part fails, so a failed upload leaves neither an object nor parts.
        try:
            self.client.upload_file(
                str(source), self.bucket, self.object_key(key), ExtraArgs=extra, Config=TRANSFER
            )
        except (Boto3Error, BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"S3 upload of {key} failed: {exc}") from exc
        source.unlink()
        return StoredObject(key=key, size=size, sha256=sha256)

    def locate(
        self, key: str, *, filename: str | None = None, media_type: str | None = None
    ) -> LocalFile | RemoteFile:
        object_key = self.object_key(key)
        if self.cloudfront_domain:
            return RemoteFile(f"https://{self.cloudfront_domain}/{quote(object_key)}")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": object_key}
        if filename:
            params["ResponseContentDisposition"] = (
                f"attachment; filename*=utf-8''{quote(filename, safe='')}"
            )
        if media_type:
            params["ResponseContentType"] = media_type
        url: str = self.presigner.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.url_ttl
        )
        return RemoteFile(url)

    def read(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
        data: bytes = body.read()
        return data

    def check(self, key: str, *, size: int, sha256: str) -> Integrity:
        """By the object's size and the SHA-256 recorded in its metadata when it was stored:
        a HEAD request, not a download (S3 checks the stored bytes against their own
        checksums; what this catches is an object deleted, replaced or truncated)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in NOT_FOUND:
                return Integrity.MISSING
            raise StorageUnavailable(f"checking {key} failed: {exc}") from exc
        except (Boto3Error, BotoCoreError) as exc:
            raise StorageUnavailable(f"checking {key} failed: {exc}") from exc
        if head["ContentLength"] != size or head.get("Metadata", {}).get("sha256") != sha256:
            return Integrity.CORRUPT
        return Integrity.OK

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[dict[str, str]] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.object_key(prefix) + "/"):
            keys.extend({"Key": item["Key"]} for item in page.get("Contents", []))
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def abort_incomplete_uploads(self, older_than: dt.timedelta) -> int:
        """Abort multipart uploads under our prefix that a killed worker left behind."""
        cutoff = dt.datetime.now(dt.UTC) - older_than
        paginator = self.client.get_paginator("list_multipart_uploads")
        aborted = 0
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] > cutoff:
                    continue
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
                except ClientError as exc:
                    logger.warning("could not abort upload of %s: %s", upload["Key"], exc)
        return aborted
