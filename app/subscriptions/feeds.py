"""A subscription's podcast feed: RSS 2.0 with the iTunes and Podcasting 2.0 tags.

Everything in it that came from YouTube (titles, channel names) is attacker-controlled:
the XML is built with ElementTree, which escapes text and attributes, and characters
XML 1.0 cannot carry at all (most control characters) are dropped first, so no title can
break the document or inject markup.

Episodes are the completed jobs of the subscription that hold the feed's medium (an audio
file for an audio feed, a video file for a video feed); each file is linked through a
`FileLinker`, which returns a signed, expiring URL (`app.subscriptions.links`).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import format_datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.core.database import utcnow
from app.downloads.presenter import media_type
from app.jobs.models import FileKind, Job, JobFile, JobStatus
from app.subscriptions import links
from app.subscriptions.exceptions import FeedNotFound
from app.subscriptions.models import FeedMedia, Subscription, SubscriptionVideo

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_MEDIA_TYPE = "application/rss+xml; charset=utf-8"
GENERATOR = "yds"

# XML 1.0 allows tab, newline and carriage return, and nothing else below U+0020; nor
# surrogates or U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

TRANSCRIPT_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt"}
MEDIUM_KINDS = {FeedMedia.AUDIO: FileKind.AUDIO, FeedMedia.VIDEO: FileKind.VIDEO}
# The newest episodes a feed lists; podcast apps keep the older ones they have already seen.
MAX_EPISODES = 300
_MAX_TOKEN_LENGTH = 128

# Returns the absolute URL a podcast app fetches the stored file at.
FileLinker = Callable[[JobFile], str]


def xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


@dataclass(frozen=True)
class Transcript:
    url: str
    type: str
    language: str | None


@dataclass(frozen=True)
class Episode:
    guid: str
    title: str
    link: str | None
    published: dt.datetime
    description: str
    enclosure_url: str
    enclosure_length: int
    enclosure_type: str
    duration: int | None = None
    image_url: str | None = None
    transcripts: list[Transcript] = field(default_factory=list)


@dataclass(frozen=True)
class Channel:
    title: str
    link: str
    description: str
    self_url: str
    author: str | None = None
    language: str | None = None
    image_url: str | None = None


def _day(upload_date: str | None) -> dt.datetime | None:
    """A job's upload date ("2024-05-31") as midnight UTC that day."""
    if not upload_date:
        return None
    try:
        return dt.datetime.strptime(upload_date[:10], "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _usable(files: Iterable[JobFile], kind: FileKind) -> list[JobFile]:
    return [stored for stored in files if stored.kind is kind and not stored.state.is_damaged]


def episode_of(job: Job, *, medium: FeedMedia, link: FileLinker) -> Episode | None:
    """The job as an episode, or None when it holds no intact file of the medium."""
    if job.status is not JobStatus.COMPLETED:
        return None
    media = _usable(job.files, MEDIUM_KINDS[medium])
    if not media:
        return None
    enclosure = media[0]
    thumbnail = next(iter(_usable(job.files, FileKind.THUMBNAIL)), None)
    transcripts = [
        Transcript(url=link(stored), type=TRANSCRIPT_TYPES[stored.format], language=stored.language)
        for stored in _usable(job.files, FileKind.SUBTITLE)
        if stored.format in TRANSCRIPT_TYPES
    ]
    title = job.title or job.video_id or "Untitled"
    watch = f"https://www.youtube.com/watch?v={job.video_id}" if job.video_id else None
    return Episode(
        guid=job.video_id or str(job.id),
        title=title,
        link=watch,
        published=_day(job.upload_date) or job.completed_at or job.created_at,
        description=f"{title} ({job.channel_name})" if job.channel_name else title,
        enclosure_url=link(enclosure),
        enclosure_length=enclosure.size,
        enclosure_type=media_type(enclosure).split(";")[0],
        duration=round(job.duration) if job.duration else None,
        image_url=link(thumbnail) if thumbnail is not None else None,
        transcripts=transcripts,
    )


def newest_first(episodes: Iterable[Episode]) -> list[Episode]:
    return sorted(episodes, key=lambda episode: episode.published, reverse=True)


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def _item(channel_element: ET.Element, episode: Episode) -> None:
    item = _add(channel_element, "item")
    _add(item, "title", episode.title)
    _add(item, "guid", episode.guid, isPermaLink="false")
    if episode.link:
        _add(item, "link", episode.link)
    _add(item, "pubDate", format_datetime(episode.published.astimezone(dt.UTC), usegmt=True))
    _add(item, "description", episode.description)
    _add(
        item,
        "enclosure",
        url=episode.enclosure_url,
        length=str(episode.enclosure_length),
        type=episode.enclosure_type,
    )
    _add(item, "itunes:title", episode.title)
    _add(item, "itunes:explicit", "false")
    if episode.duration is not None:
        _add(item, "itunes:duration", _duration(episode.duration))
    if episode.image_url:
        _add(item, "itunes:image", href=episode.image_url)
    for transcript in episode.transcripts:
        attributes = {"url": transcript.url, "type": transcript.type, "rel": "captions"}
        if transcript.language:
            attributes["language"] = transcript.language
        _add(item, "podcast:transcript", **attributes)


def render(channel: Channel, episodes: Iterable[Episode], *, updated: dt.datetime) -> bytes:
    """The feed document, UTF-8 with an XML declaration; `updated` is its lastBuildDate."""
    rss = ET.Element(
        "rss",
        {
            "version": "2.0",
            "xmlns:itunes": ITUNES_NS,
            "xmlns:podcast": PODCAST_NS,
            "xmlns:atom": ATOM_NS,
        },
    )
    element = _add(rss, "channel")
    _add(element, "title", channel.title)
    _add(element, "link", channel.link)
    _add(element, "description", channel.description)
    _add(element, "atom:link", href=channel.self_url, rel="self", type="application/rss+xml")
    _add(element, "language", channel.language or "en")
    _add(element, "generator", GENERATOR)
    _add(element, "lastBuildDate", format_datetime(updated.astimezone(dt.UTC), usegmt=True))
    _add(element, "itunes:author", channel.author or channel.title)
    _add(element, "itunes:summary", channel.description)
    _add(element, "itunes:explicit", "false")
    _add(element, "itunes:type", "episodic")
    if channel.image_url:
        _add(element, "itunes:image", href=channel.image_url)
        image = _add(element, "image")
        _add(image, "url", channel.image_url)
        _add(image, "title", channel.title)
        _add(image, "link", channel.link)
    for episode in episodes:
        _item(element, episode)
    body: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return body


def enable(subscription: Subscription, *, media: FeedMedia) -> str:
    """A new token for the subscription's feed (any previous one stops working); only its
    digest is kept, so the token is returned once, here."""
    token = links.new_feed_token()
    subscription.feed_token_digest = links.feed_token_digest(token)
    subscription.feed_media = media
    return token


def revoke(subscription: Subscription) -> None:
    subscription.feed_token_digest = None


async def find(session: AsyncSession, token: str) -> Subscription:
    """The subscription whose feed has this token; FeedNotFound for any other token, and
    once the key that owns the subscription is revoked or expired."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise FeedNotFound()
    found = (
        await session.execute(
            select(Subscription, ApiKey)
            .join(ApiKey, ApiKey.id == Subscription.api_key_id)
            .where(Subscription.feed_token_digest == links.feed_token_digest(token))
        )
    ).one_or_none()
    # A feed lives no longer than the key that published it.
    if found is None or found.ApiKey.revoked_at is not None or found.ApiKey.is_expired(utcnow()):
        raise FeedNotFound()
    subscription: Subscription = found.Subscription
    return subscription


async def downloaded_jobs(session: AsyncSession, subscription: Subscription) -> list[Job]:
    """The subscription's completed downloads (from its archive), newest upload first."""
    rows = await session.scalars(
        select(Job)
        .join(SubscriptionVideo, SubscriptionVideo.job_id == Job.id)
        .where(
            SubscriptionVideo.subscription_id == subscription.id,
            Job.api_key_id == subscription.api_key_id,
            Job.status == JobStatus.COMPLETED,
        )
        .order_by(Job.upload_date.desc().nulls_last(), Job.completed_at.desc())
        .limit(MAX_EPISODES)
    )
    return list(rows)


def _language(subscription: Subscription) -> str:
    languages = (subscription.options or {}).get("subtitle_languages") or ["en"]
    first = str(languages[0])
    return "en" if first == "all" else first


def channel_of(
    subscription: Subscription, jobs: list[Job], *, self_url: str, image_url: str | None
) -> Channel:
    author = next((job.channel_name for job in jobs if job.channel_name), None)
    title = subscription.name or author or subscription.url
    return Channel(
        title=title,
        link=subscription.url,
        description=f"New uploads of {title}, followed from {subscription.url}.",
        self_url=self_url,
        author=author,
        language=_language(subscription),
        image_url=image_url,
    )


def document(
    subscription: Subscription,
    jobs: list[Job],
    *,
    link: FileLinker,
    self_url: str,
) -> bytes:
    """The feed of the subscription, its files linked through `link`."""
    medium = FeedMedia(subscription.feed_media)
    episodes = newest_first(
        episode
        for episode in (episode_of(job, medium=medium, link=link) for job in jobs)
        if episode is not None
    )
    image = next((episode.image_url for episode in episodes if episode.image_url), None)
    channel = channel_of(subscription, jobs, self_url=self_url, image_url=image)
    # The last change, not the time of this fetch: the same rows give the same document.
    updated = max(
        (job.completed_at for job in jobs if job.completed_at is not None),
        default=subscription.created_at,
    )
    return render(channel, episodes, updated=updated)
