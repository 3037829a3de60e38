"""On AWS (S3 storage) the upload is one private object beside S3_PREFIX, not under it: the
CDN and the files API serve only that prefix, and its lifecycle rule expires it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.core.config import Settings, StorageBackend
from app.downloads.engine.options import private_cookie_jar
from app.youtube.cookies import cookie_status
from tests.support.factories import KeyFactory
from tests.support.s3 import S3Server
from tests.youtube.cookie_files import signed_in

PATH = "/api/v1/admin/cookies"
KEY = "private/media/prod/youtube-cookies.txt"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, s3_server: S3Server) -> Settings:
    return settings.model_copy(
        update={
            "storage_backend": StorageBackend.S3,
            "s3_bucket_name": s3_server.new_bucket(),
            "s3_prefix": "media/prod",
            "s3_endpoint_url": s3_server.endpoint,
            "ytdlp_cookies_dir": tmp_path / "secrets",
        }
    )


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_upload_is_a_private_object_the_worker_reads_and_delete_removes(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    settings: Settings,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    admin = {"X-API-Key": make_key("admin", ["admin"]), "Content-Type": "text/plain"}
    put = await client.put(PATH, content=signed_in(), headers=admin)
    assert put.status_code == 200, put.text
    s3 = s3_server.client()
    listing = s3.list_objects_v2(Bucket=settings.s3_bucket_name)
    assert [item["Key"] for item in listing["Contents"]] == [KEY]
    stored = s3.get_object(Bucket=settings.s3_bucket_name, Key=KEY)["Body"].read()
    assert stored == signed_in()
    assert not settings.ytdlp_cookies_dir.exists(), "nothing is written to local disk"

    status = cookie_status(settings)
    assert (status.source, status.auth_cookies, status.error) == ("upload", 2, None)
    assert job_jar(settings, tmp_path / "job") == signed_in()

    assert (await client.delete(PATH, headers=admin)).status_code == 204
    assert "Contents" not in s3.list_objects_v2(Bucket=settings.s3_bucket_name)
    assert (await client.get(PATH, headers=admin)).json()["source"] == "none"
    assert job_jar(settings, tmp_path / "job2") is None


def job_jar(settings: Settings, workdir: Path) -> bytes | None:
    """What a job's yt-dlp would be given as its cookie file."""
    jar = private_cookie_jar(settings, workdir)
    return None if jar is None else Path(jar).read_bytes()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_unreachable_bucket_is_reported_not_raised(settings: Settings) -> None:
    missing = settings.model_copy(update={"s3_bucket_name": "yds-no-such-bucket"})
    status = cookie_status(missing)
    assert status.source == "upload" and not status.parseable
    assert status.error is not None and "could not be read" in status.error
