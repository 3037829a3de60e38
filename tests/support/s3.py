"""moto's S3 as the tests use it: a server on loopback, fresh buckets, and the settings that
point the service at it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import boto3


@dataclass
class S3Server:
    """moto's S3 in server mode on loopback: the real protocol, over HTTP."""

    endpoint: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"yds-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings_env(self, bucket: str, prefix: str = "yds") -> dict[str, str]:
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET_NAME": bucket,
            "S3_PREFIX": prefix,
            "S3_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }
