"""Signed file links: a link opens exactly one file until it expires, with no API key; any
change to it, or its expiry, is refused with 403. On S3 the link redirects to a presigned
URL."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings, StorageBackend
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.jobs.models import FileKind, JobFile, JobStatus
from app.storage.factory import get_storage_handler
from app.subscriptions import links
from app.subscriptions.exceptions import InvalidLink, LinkExpired
from tests.support.constants import TEST_KEY_SECRET
from tests.support.factories import create_job, one_character_changed
from tests.support.s3 import S3Server

KEY = links.link_key(TEST_KEY_SECRET.encode())
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CONTENT = bytes(range(256)) * 40


def test_a_link_verifies_until_it_expires() -> None:
    file_id = uuid.uuid4()
    link = links.sign(KEY, file_id, ttl_seconds=60, now=NOW)

    links.verify(KEY, link, now=NOW + dt.timedelta(seconds=59))
    with pytest.raises(LinkExpired):
        links.verify(KEY, link, now=NOW + dt.timedelta(seconds=60))


def test_links_signed_within_a_step_are_the_same_and_live_at_least_most_of_the_ttl() -> None:
    file_id = uuid.uuid4()
    week = 7 * 24 * 3600
    first = links.sign(KEY, file_id, ttl_seconds=week, now=NOW + dt.timedelta(seconds=1))
    later = links.sign(KEY, file_id, ttl_seconds=week, now=NOW + dt.timedelta(minutes=59))
    assert first == later
    assert first.expires >= (NOW + dt.timedelta(minutes=59)).timestamp() + week - 3600


@pytest.mark.parametrize(
    "change",
    [
        {"file_id": uuid.uuid4()},
        {"expires": 10**10},
        {"sig": "A" * 43},
        {"sig": ""},
        {"sig": "é" * 43},
        {"sig": "x" * 10_000},
    ],
)
def test_any_change_to_a_link_makes_it_invalid(change: dict[str, object]) -> None:
    link = links.sign(KEY, uuid.uuid4(), ttl_seconds=60, now=NOW)
    forged = links.SignedLink(**{**link.__dict__, **change})
    with pytest.raises(InvalidLink):
        links.verify(KEY, forged, now=NOW)


def test_links_are_signed_with_a_key_of_their_own() -> None:
    link = links.sign(KEY, uuid.uuid4(), ttl_seconds=60, now=NOW)
    with pytest.raises(InvalidLink):
        links.verify(TEST_KEY_SECRET.encode(), link, now=NOW)
    with pytest.raises(InvalidLink):
        links.verify(links.link_key(b"another server"), link, now=NOW)


def test_feed_tokens_are_random_and_only_their_digest_is_kept() -> None:
    token = links.new_feed_token()
    assert len(token) >= 43 and token != links.new_feed_token()
    digest = links.feed_token_digest(token)
    assert len(digest) == 64 and token not in digest
    assert digest == links.feed_token_digest(token)


@pytest.fixture(params=["local", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def settings(settings: Settings, storage_backend: str, s3_server: S3Server) -> Settings:
    if storage_backend == "local":
        return settings
    return settings.model_copy(
        update={
            "storage_backend": StorageBackend.S3,
            "s3_bucket_name": s3_server.new_bucket(),
            "s3_prefix": "media",
            "s3_endpoint_url": s3_server.endpoint,
        }
    )


@dataclass(frozen=True)
class StoredFile:
    id: uuid.UUID
    content: bytes


def stored_file(settings: Settings, tmp_path: Path) -> StoredFile:
    """A completed job's audio file, stored as a worker stores it."""
    engine = create_sync_engine(settings.database_url)
    try:
        sessions = sync_sessionmaker(engine)
        job_id = create_job(
            sessions, status=JobStatus.COMPLETED, title="Episode: 1/2", video_id="v"
        )
        source = tmp_path / "episode.m4a"
        source.write_bytes(CONTENT)
        stored = get_storage_handler(settings).store(source, f"{job_id}/v.m4a")
        with session_scope(sessions) as session:
            row = JobFile(job_id=job_id, kind=FileKind.AUDIO, format="m4a", size=stored.size,
                          sha256=stored.sha256, storage_key=stored.key)  # fmt: skip
            session.add(row)
            session.flush()
            return StoredFile(id=row.id, content=CONTENT)
    finally:
        engine.dispose()


def url(link: links.SignedLink) -> str:
    return f"/feeds/files/{link.file_id}?expires={link.expires}&sig={link.sig}"


def fresh(file_id: uuid.UUID, ttl_seconds: int = 600) -> links.SignedLink:
    return links.sign(KEY, file_id, ttl_seconds=ttl_seconds, now=dt.datetime.now(dt.UTC))


async def fetch(client: httpx.AsyncClient, path: str, **headers: str) -> httpx.Response:
    """GET without any API key, following an S3 redirect the way a podcast app does."""
    response = await client.get(path, headers=headers)
    if response.status_code == 307:
        async with httpx.AsyncClient() as outside:
            return await outside.get(response.headers["location"], headers=headers)
    return response


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_signed_link_serves_the_file_without_a_key(
    client: httpx.AsyncClient, settings: Settings, storage_backend: str, tmp_path: Path
) -> None:
    stored = stored_file(settings, tmp_path)
    link = url(fresh(stored.id))

    whole = await fetch(client, link)
    assert whole.status_code == 200, whole.text
    assert whole.content == stored.content
    assert "attachment" in whole.headers["content-disposition"]
    part = await fetch(client, link, range="bytes=10-19")
    assert part.status_code == 206
    assert part.content == stored.content[10:20]
    if storage_backend == "s3":
        redirect = await client.get(link)
        assert redirect.status_code == 307
        assert redirect.headers["location"].startswith(settings.s3_endpoint_url)
    else:
        head = await client.head(link)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(stored.content))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("storage_backend", ["local"], indirect=True)
async def test_expired_tampered_or_missing_links_are_refused(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    stored = stored_file(settings, tmp_path)
    expired = links.sign(
        KEY, stored.id, ttl_seconds=60, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    )
    good = fresh(stored.id)
    other = links.SignedLink(uuid.uuid4(), good.expires, good.sig)
    tampered = links.SignedLink(stored.id, good.expires + 1, good.sig)
    cases = {
        url(expired): "link_expired",
        url(tampered): "invalid_link",
        url(other): "invalid_link",
        url(
            links.SignedLink(stored.id, good.expires, one_character_changed(good.sig, 0))
        ): "invalid_link",
        f"/feeds/files/{stored.id}": "invalid_link",
        f"/feeds/files/{stored.id}?expires=soon&sig={good.sig}": "invalid_link",
    }
    for path, code in cases.items():
        refused = await client.get(path)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == code, path


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("storage_backend", ["local"], indirect=True)
async def test_a_valid_link_to_a_deleted_file_is_404(client: httpx.AsyncClient) -> None:
    gone = await client.get(url(fresh(uuid.uuid4())))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "file_not_found"
