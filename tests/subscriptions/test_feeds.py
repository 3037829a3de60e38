"""Podcast feeds: a subscription's feed is RSS 2.0 with iTunes and Podcasting 2.0 tags, as a
real feed parser reads it; its enclosure and transcript links download the stored files
with no API key; its URL is a secret that only the subscription's key can rotate or revoke;
and titles from YouTube cannot break or inject into the XML."""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import feedparser
import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.jobs.models import FileKind, JobFile, JobStatus
from app.storage.factory import get_storage_handler
from app.subscriptions import feed_router, feeds
from app.subscriptions.models import (
    EntryStatus,
    Subscription,
    SubscriptionKind,
    SubscriptionVideo,
)
from tests.support.factories import create_job, create_key

HOSTILE = "<script>alert('x')</script> & \"co\" ]]> \x0b\x1b done"
SHOWN = "<script>alert('x')</script> & \"co\" ]]>  done"  # what XML 1.0 can carry of it
ITUNES = "{" + feeds.ITUNES_NS + "}"
PODCAST = "{" + feeds.PODCAST_NS + "}"


@dataclass
class Library:
    """Rows and stored files, written the way the API and the workers write them."""

    settings: Settings
    sessions: sessionmaker[Session]
    tmp_path: Path
    contents: dict[uuid.UUID, bytes] = field(default_factory=dict)

    def subscription(self, api_key_id: uuid.UUID, *, name: str | None = None) -> uuid.UUID:
        with session_scope(self.sessions) as session:
            row = Subscription(api_key_id=api_key_id, url="https://www.youtube.com/@offline/videos",
                               name=name, kind=SubscriptionKind.CHANNEL, check_interval_minutes=60,
                               options={"subtitle_languages": ["en"]})  # fmt: skip
            session.add(row)
            session.flush()
            return row.id

    def download(
        self,
        subscription_id: uuid.UUID,
        api_key_id: uuid.UUID,
        *,
        video_id: str,
        title: str,
        upload_date: str,
        files: dict[tuple[FileKind, str], bytes],
        status: JobStatus = JobStatus.COMPLETED,
    ) -> uuid.UUID:
        """A subscription's download of one video, with its stored files."""
        job_id = create_job(self.sessions, api_key_id=api_key_id, status=status, title=title,
                            video_id=video_id, upload_date=upload_date, duration=61.4,
                            channel_name="Offline & Co", url=f"https://youtu.be/{video_id}",
                            completed_at=dt.datetime.now(dt.UTC))  # fmt: skip
        storage = get_storage_handler(self.settings)
        with session_scope(self.sessions) as session:
            for (kind, extension), content in files.items():
                source = self.tmp_path / f"{uuid.uuid4()}.{extension}"
                source.write_bytes(content)
                stored = storage.store(source, f"{job_id}/{video_id}.{kind}.{extension}")
                row = JobFile(job_id=job_id, kind=kind, format=extension, size=stored.size,
                              sha256=stored.sha256, storage_key=stored.key,
                              language="en" if kind is FileKind.SUBTITLE else None)  # fmt: skip
                session.add(row)
                session.flush()
                self.contents[row.id] = content
            entry = SubscriptionVideo(subscription_id=subscription_id, video_id=video_id,
                                      job_id=job_id, status=EntryStatus.DOWNLOADED)  # fmt: skip
            session.add(entry)
        return job_id


@pytest.fixture
def library(settings: Settings, tmp_path: Path) -> Iterator[Library]:
    engine = create_sync_engine(settings.database_url)
    yield Library(settings, sync_sessionmaker(engine), tmp_path)
    engine.dispose()


def episode_files(n: int) -> dict[tuple[FileKind, str], bytes]:
    return {
        (FileKind.AUDIO, "m4a"): f"audio {n} ".encode() * 500,
        (FileKind.VIDEO, "mp4"): f"video {n} ".encode() * 700,
        (FileKind.SUBTITLE, "srt"): f"1\n00:00:00,000 --> 00:00:01,000\nline {n}\n".encode(),
        (FileKind.SUBTITLE, "vtt"): f"WEBVTT\n\n00:00.000 --> 00:01.000\nline {n}\n".encode(),
        (FileKind.SUBTITLE, "txt"): b"not a podcast transcript",
        (FileKind.THUMBNAIL, "jpg"): f"jpeg {n}".encode(),
    }


async def enable(
    client: httpx.AsyncClient, key: str, subscription_id: uuid.UUID, media: str = "audio"
) -> httpx.Response:
    return await client.post(
        f"/api/v1/subscriptions/{subscription_id}/feed",
        json={"media": media},
        headers={"X-API-Key": key},
    )


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_feed_is_rss_with_itunes_tags_and_its_links_work_without_a_key(
    client: httpx.AsyncClient, library: Library
) -> None:
    owner = create_key(library.settings.database_url, "owner")
    key_id = owner.api_key.id
    followed = library.subscription(key_id)
    library.download(followed, key_id, video_id="old", title="First episode",
                     upload_date="2024-01-02", files=episode_files(1))  # fmt: skip
    library.download(followed, key_id, video_id="new", title=HOSTILE,
                     upload_date="2024-03-04", files=episode_files(2))  # fmt: skip
    library.download(followed, key_id, video_id="vid", title="Video only", upload_date="2024-05-06",
                     files={(FileKind.VIDEO, "mp4"): b"video"})  # fmt: skip
    library.download(followed, key_id, video_id="bad", title="Failed", upload_date="2024-05-06",
                     files={}, status=JobStatus.FAILED)  # fmt: skip
    elsewhere = library.subscription(key_id, name="Another")
    library.download(elsewhere, key_id, video_id="other", title="Not in this feed",
                     upload_date="2024-05-06", files=episode_files(3))  # fmt: skip

    enabled = await enable(client, owner.secret, followed)
    assert enabled.status_code == 201, enabled.text
    assert enabled.json()["media"] == "audio"
    feed_url = enabled.json()["url"]
    assert feed_url.startswith("http://testserver/feeds/") and feed_url.endswith(".xml")

    fetched = await client.get(feed_url)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(fetched.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "Offline & Co"
    assert parsed.feed.author == "Offline & Co"
    assert "itunes_explicit" in parsed.feed and not parsed.feed.itunes_explicit
    assert parsed.feed.image.href.startswith("http://testserver/feeds/files/")
    assert [entry.title for entry in parsed.entries] == [SHOWN, "First episode"]
    assert [entry.id for entry in parsed.entries] == ["new", "old"]
    assert parsed.entries[0].published_parsed[:3] == (2024, 3, 4)
    assert parsed.entries[0].itunes_duration == "0:01:01"

    for entry in parsed.entries:
        (enclosure,) = entry.enclosures
        assert enclosure.type == "audio/mp4"
        whole = await client.get(enclosure.href)
        assert whole.status_code == 200
        assert whole.content.startswith(b"audio ")
        assert int(enclosure.length) == len(whole.content)
        part = await client.get(enclosure.href, headers={"Range": "bytes=2-5"})
        assert part.status_code == 206
        assert part.content == whole.content[2:6]

    items = ET.fromstring(fetched.content).findall("channel/item")  # noqa: S314 (our feed)
    transcripts = items[0].findall(f"{PODCAST}transcript")
    assert {(t.get("type"), t.get("language")) for t in transcripts} == {
        ("application/x-subrip", "en"),
        ("text/vtt", "en"),
    }
    for transcript in transcripts:
        response = await client.get(str(transcript.get("url")))
        assert response.status_code == 200
        assert b"line 2" in response.content
    assert items[1].find(f"{ITUNES}image") is not None


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_video_feed_lists_the_video_files(
    client: httpx.AsyncClient, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both fetches sign their links at the same moment (not across an expiry step).
    signed_at = dt.datetime.now(dt.UTC)
    monkeypatch.setattr(feed_router, "utcnow", lambda: signed_at)
    owner = create_key(library.settings.database_url, "owner")
    followed = library.subscription(owner.api_key.id, name="Watched")
    library.download(followed, owner.api_key.id, video_id="a", title="A",
                     upload_date="2024-01-02", files=episode_files(1))  # fmt: skip

    enabled = await enable(client, owner.secret, followed, media="video")
    fetched = await client.get(enabled.json()["url"])
    parsed = feedparser.parse(fetched.content)

    assert parsed.feed.title == "Watched"
    (enclosure,) = parsed.entries[0].enclosures
    assert enclosure.type == "video/mp4"
    assert (await client.get(enclosure.href)).content.startswith(b"video 1")
    again = await client.get(
        enabled.json()["url"], headers={"If-None-Match": fetched.headers["etag"]}
    )
    assert again.status_code == 304, "polled again, the unchanged feed is not sent again"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_rotated_feed_url_replaces_the_old_one_and_a_revoked_one_is_gone(
    client: httpx.AsyncClient, library: Library
) -> None:
    owner = create_key(library.settings.database_url, "owner")
    followed = library.subscription(owner.api_key.id)

    first = (await enable(client, owner.secret, followed)).json()["url"]
    assert (await client.get(first)).status_code == 200
    second = (await enable(client, owner.secret, followed)).json()["url"]
    assert second != first

    old = await client.get(first)
    assert old.status_code == 404 and error_code(old) == "feed_not_found"
    assert (await client.get(second)).status_code == 200
    assert (await client.head(second)).status_code == 200

    revoked = await client.delete(
        f"/api/v1/subscriptions/{followed}/feed", headers={"X-API-Key": owner.secret}
    )
    assert revoked.status_code == 204
    gone = await client.get(second)
    assert gone.status_code == 404 and error_code(gone) == "feed_not_found"
    guessed = await client.get("/feeds/" + "A" * 43 + ".xml")
    assert guessed.status_code == 404 and error_code(guessed) == "feed_not_found"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_another_key_cannot_enable_or_revoke_the_feed(
    client: httpx.AsyncClient, library: Library
) -> None:
    owner = create_key(library.settings.database_url, "owner")
    stranger = create_key(library.settings.database_url, "stranger")
    followed = library.subscription(owner.api_key.id)
    feed_url = (await enable(client, owner.secret, followed)).json()["url"]

    enabled = await enable(client, stranger.secret, followed)
    revoked = await client.delete(
        f"/api/v1/subscriptions/{followed}/feed", headers={"X-API-Key": stranger.secret}
    )
    missing = await enable(client, owner.secret, uuid.uuid4())

    for refused in (enabled, revoked, missing):
        assert refused.status_code == 404
        assert error_code(refused) == "subscription_not_found"
    assert (await client.get(feed_url)).status_code == 200, "the owner's feed still works"
    keyless = await client.post(f"/api/v1/subscriptions/{followed}/feed", json={})
    assert keyless.status_code == 401


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_feed_ends_with_the_key_that_published_it(
    client: httpx.AsyncClient, library: Library
) -> None:
    owner = create_key(library.settings.database_url, "owner")
    followed = library.subscription(owner.api_key.id)
    feed_url = (await enable(client, owner.secret, followed)).json()["url"]
    assert (await client.get(feed_url)).status_code == 200

    with session_scope(library.sessions) as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == owner.api_key.id)
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )

    gone = await client.get(feed_url)
    assert gone.status_code == 404 and error_code(gone) == "feed_not_found"


def test_hostile_titles_are_escaped_and_read_back_as_they_were() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    episode = feeds.Episode(
        guid=HOSTILE, title=HOSTILE + "\x00", link=None, published=now, description=HOSTILE,
        enclosure_url="https://example.test/a?x=1&y=<2>", enclosure_length=1,
        enclosure_type="audio/mp4",
    )  # fmt: skip
    channel = feeds.Channel(title=HOSTILE, link="https://example.test/", description=HOSTILE,
                            self_url="https://example.test/feed.xml")  # fmt: skip

    body = feeds.render(channel, [episode], updated=now)

    assert b"<script>" not in body
    document = ET.fromstring(body)  # noqa: S314 (our feed)
    assert document.findtext("channel/title") == SHOWN
    item = document.find("channel/item")
    assert item is not None
    assert item.findtext("title") == SHOWN
    assert item.findtext("description") == SHOWN
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("url") == "https://example.test/a?x=1&y=<2>"
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert parsed.entries[0].title == SHOWN
