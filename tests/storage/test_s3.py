"""The S3 handler against moto's S3 server on loopback: the real protocol over HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.storage.base import Integrity, RemoteFile
from app.storage.s3 import S3StorageHandler
from tests.support.s3 import S3Server

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def handler_for(s3_server: S3Server, **overrides: Any) -> S3StorageHandler:
    env = s3_server.settings_env(s3_server.new_bucket())
    settings = Settings(
        _env_file=None,
        storage_backend="s3",
        s3_bucket_name=env["S3_BUCKET_NAME"],
        s3_prefix="media/prod",
        s3_endpoint_url=s3_server.endpoint,
        **overrides,
    )
    return S3StorageHandler(settings)


def big_file(path: Path, megabytes: int) -> bytes:
    data = os.urandom(1024 * 1024) * megabytes
    path.write_bytes(data)
    return data


def test_store_streams_a_multipart_upload_with_size_sha256_and_a_presigned_url(
    s3_server: S3Server, tmp_path: Path
) -> None:
    storage = handler_for(s3_server)
    source = tmp_path / "video.mp4"
    data = big_file(source, 40)  # above the multipart threshold: several parts

    stored = storage.store(source, "job-1/abc.mp4", media_type="video/mp4")

    assert not source.exists(), "the work copy is gone once stored"
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    head = storage.client.head_object(Bucket=storage.bucket, Key="media/prod/job-1/abc.mp4")
    assert head["ContentLength"] == len(data) and head["ContentType"] == "video/mp4"
    assert head["Metadata"]["sha256"] == stored.sha256
    assert "-" in head["ETag"], "uploaded in parts"

    location = storage.locate("job-1/abc.mp4", filename="Clip: ✓.mp4", media_type="video/mp4")
    assert isinstance(location, RemoteFile)
    response = httpx.get(location.url)
    assert response.status_code == 200 and response.content == data
    assert "attachment" in response.headers["content-disposition"]


def test_delete_prefix_removes_every_object_of_a_job(s3_server: S3Server) -> None:
    storage = handler_for(s3_server)
    for name in ("a.mp4", "a.en.srt", "a.jpg"):
        storage.write(f"job-2/{name}", b"x")
    storage.write("job-20/keep.mp4", b"y")
    storage.delete_prefix("job-2")
    listing = storage.client.list_objects_v2(Bucket=storage.bucket)
    assert [item["Key"] for item in listing["Contents"]] == ["media/prod/job-20/keep.mp4"]


def test_cloudfront_domain_replaces_presigned_urls(s3_server: S3Server) -> None:
    storage = handler_for(s3_server, s3_cloudfront_domain="d111.cloudfront.net")
    location = storage.locate("job-3/a b.mp4")
    assert location == RemoteFile("https://d111.cloudfront.net/media/prod/job-3/a%20b.mp4")


def test_a_failed_upload_leaves_no_object_and_no_multipart_upload(
    s3_server: S3Server, tmp_path: Path
) -> None:
    storage = handler_for(s3_server)
    source = tmp_path / "video.mp4"
    big_file(source, 48)
    parts_sent = 0

    def fail_third_part(**_kwargs: object) -> None:
        # The network failing mid-upload, as botocore would see it.
        nonlocal parts_sent
        parts_sent += 1
        if parts_sent == 3:
            raise ConnectionResetError("connection reset by peer")

    storage.client.meta.events.register("before-send.s3.UploadPart", fail_third_part)
    with pytest.raises(Exception, match="reset"):
        storage.store(source, "job-4/abc.mp4")

    listing = storage.client.list_objects_v2(Bucket=storage.bucket)
    assert listing.get("KeyCount", 0) == 0
    uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket)
    assert uploads.get("Uploads", []) == []
    assert source.exists(), "the work copy stays for a retry"


KILLED_UPLOAD = """
import sys
from pathlib import Path
from app.core.config import Settings
from app.storage.s3 import S3StorageHandler
settings = Settings(_env_file=None, storage_backend="s3", s3_bucket_name=sys.argv[1],
                    s3_prefix="media/prod", s3_endpoint_url=sys.argv[2])
storage = S3StorageHandler(settings)
# Slow the parts down so the parent can kill us midway.
slow = lambda **kw: __import__("time").sleep(0.5)  # noqa: E731
storage.client.meta.events.register("before-send.s3.UploadPart", slow)
storage.store(Path(sys.argv[3]), "job-5/abc.mp4")
"""


def test_an_upload_killed_midway_is_cleaned_up(s3_server: S3Server, tmp_path: Path) -> None:
    storage = handler_for(s3_server)
    source = tmp_path / "video.mp4"
    big_file(source, 96)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_UPLOAD, storage.bucket, s3_server.endpoint, str(source)],
        cwd=PROJECT_ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket).get(
                "Uploads", []
            )
            if uploads:
                parts = storage.client.list_parts(
                    Bucket=storage.bucket, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"]
                )
                if parts.get("Parts"):
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the upload never got a part in")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads")
    assert storage.abort_incomplete_uploads(dt.timedelta(0)) == 1
    assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []
    assert storage.client.list_objects_v2(Bucket=storage.bucket).get("KeyCount", 0) == 0


def test_presigned_urls_can_name_a_public_endpoint(s3_server: S3Server) -> None:
    storage = handler_for(s3_server, s3_public_endpoint_url="http://localhost:9000")
    location = storage.locate("job-7/a.mp4")
    assert isinstance(location, RemoteFile)
    assert location.url.startswith(
        f"http://localhost:9000/{storage.bucket}/media/prod/job-7/a.mp4?"
    )


def test_check_compares_size_and_the_recorded_sha256(s3_server: S3Server, tmp_path: Path) -> None:
    storage = handler_for(s3_server)
    source = tmp_path / "a.bin"
    source.write_bytes(b"the recorded bytes")
    stored = storage.store(source, "job/a.bin")
    key = storage.object_key(stored.key)

    def check() -> Integrity:
        return storage.check(stored.key, size=stored.size, sha256=stored.sha256)

    assert check() is Integrity.OK
    storage.client.put_object(Bucket=storage.bucket, Key=key, Body=b"the recorded bytez")
    assert check() is Integrity.CORRUPT, "replaced without the recorded sha256"
    storage.client.delete_object(Bucket=storage.bucket, Key=key)
    assert check() is Integrity.MISSING
