"""The subscriptions API's rules: what a subscription may follow, its filters' patterns, its
interval; starting a check now. Services never commit: the request's session does, then
the after-commit actions run (the check's message)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from functools import partial
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.api.state import AppState
from app.auth.models import ApiKey
from app.core.celery_app import RUN_DOWNLOAD_TASK, download_queue
from app.core.config import YOUTUBE_HOSTS, Settings
from app.core.database import utcnow
from app.core.errors import AppError
from app.downloads import urls
from app.downloads.exceptions import UnsupportedUrl
from app.downloads.service import with_transcribe_mode
from app.jobs.models import JobKind, Priority
from app.jobs.schemas import JobError
from app.security.service import check_address
from app.subscriptions import checks, patterns, repository
from app.subscriptions.exceptions import InvalidPattern, InvalidSubscriptionUrl
from app.subscriptions.models import ChannelTab, Subscription, SubscriptionKind
from app.subscriptions.schemas import (
    FeedState,
    SubscriptionCounts,
    SubscriptionCreate,
    SubscriptionFilters,
    SubscriptionOut,
    SubscriptionUpdate,
)
from app.worker.dispatch import enqueue_download


class IntervalTooShort(AppError):
    status_code = 422
    code = "validation_error"
    message = "check_interval_minutes is below the server's minimum."


def classify_source(
    url: str, settings: Settings
) -> tuple[SubscriptionKind, ChannelTab | None, str]:
    """A channel (a tab of one) or a playlist, with the URL its checks list."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if host not in YOUTUBE_HOSTS:
            raise InvalidSubscriptionUrl()
        target = urls.classify(url, settings.allowed_domains, playlist="list=" in url)
    except (UnsupportedUrl, ValueError) as exc:
        raise InvalidSubscriptionUrl() from exc
    if target.kind is JobKind.PLAYLIST:
        return SubscriptionKind.PLAYLIST, None, target.url
    if target.kind is not JobKind.CHANNEL:
        raise InvalidSubscriptionUrl()
    tab = target.url.rstrip("/").rsplit("/", 1)[-1]
    return (
        SubscriptionKind.CHANNEL,
        ChannelTab(tab) if tab in urls.CHANNEL_TABS else None,
        target.url,
    )


def _check_interval(minutes: int, settings: Settings) -> None:
    if minutes < settings.subscription_min_interval_minutes:
        raise IntervalTooShort(
            f"check_interval_minutes must be at least {settings.subscription_min_interval_minutes}"
            " (SUBSCRIPTION_MIN_INTERVAL_MINUTES)."
        )


async def _check_patterns(filters: SubscriptionFilters) -> None:
    """Each title pattern is run against hostile titles in a child process (up to
    PROBE_SECONDS), off the event loop."""
    for name in ("title_include", "title_exclude"):
        pattern = getattr(filters, name)
        if pattern is None:
            continue
        try:
            await asyncio.to_thread(patterns.check_pattern, pattern)
        except patterns.UnsafePattern as exc:
            raise InvalidPattern(f"{name}: {exc}.") from exc


async def send_check(state: AppState, job_id: uuid.UUID, priority: Priority) -> None:
    """The check job's message (task id = job id), like a download's; after the commit."""
    if state.task_sender is None:
        await asyncio.to_thread(enqueue_download, job_id, 0, priority)
        return
    await state.task_sender.send(
        RUN_DOWNLOAD_TASK, [str(job_id)], queue=download_queue(priority), task_id=str(job_id)
    )


async def create(
    session: AsyncSession, *, api_key: ApiKey, body: SubscriptionCreate, state: AppState
) -> Subscription:
    settings = state.settings
    kind, tab, url = classify_source(body.url, settings)
    _check_interval(body.check_interval_minutes, settings)
    await _check_patterns(body.filters)
    await check_address(url, settings)
    options = with_transcribe_mode(body.options, settings)

    def insert(sync_session: Session) -> Subscription:
        subscription = Subscription(
            id=uuid.uuid4(),
            api_key_id=api_key.id,
            url=url,
            name=body.name,
            kind=kind,
            tab=tab,
            options=options.model_dump(mode="json"),
            filters=body.filters.model_dump(mode="json"),
            check_interval_minutes=body.check_interval_minutes,
            paused=body.paused,
            backfill=body.backfill,
            keep_last=body.keep_last,
            priority=body.priority,
            created_at=utcnow(),
            next_check_at=utcnow(),
            initialized=False,
        )
        sync_session.add(subscription)
        sync_session.flush()
        if not body.paused:
            # The first check lists what exists now: only what comes after is new.
            checks.start_check(
                sync_session, subscription.id, settings=settings, send=partial(send_check, state)
            )
            sync_session.refresh(subscription)  # the claim is an UPDATE the ORM did not see
        return subscription

    return await session.run_sync(insert)


async def update(
    session: AsyncSession, *, subscription: Subscription, body: SubscriptionUpdate, state: AppState
) -> Subscription:
    settings = state.settings
    changes = body.model_dump(exclude_unset=True)
    if body.check_interval_minutes is not None:
        _check_interval(body.check_interval_minutes, settings)
        subscription.check_interval_minutes = body.check_interval_minutes
        subscription.next_check_at = checks.next_check_time(
            body.check_interval_minutes, now=subscription.last_check_at or utcnow()
        )
    if body.filters is not None:
        await _check_patterns(body.filters)
        subscription.filters = body.filters.model_dump(mode="json")
    if body.options is not None:
        subscription.options = with_transcribe_mode(body.options, settings).model_dump(mode="json")
    if "name" in changes:
        subscription.name = body.name
    if "keep_last" in changes:
        subscription.keep_last = body.keep_last
    if body.priority is not None:
        subscription.priority = body.priority
    if body.paused is not None:
        if subscription.paused and not body.paused and subscription.next_check_at is None:
            subscription.next_check_at = utcnow()
        subscription.paused = body.paused
    await session.flush()
    return subscription


async def remove(session: AsyncSession, *, subscription: Subscription) -> None:
    """The subscription and its archive; its downloads stay the key's jobs."""
    await session.execute(delete(Subscription).where(Subscription.id == subscription.id))


async def check_now(
    session: AsyncSession, *, subscription: Subscription, state: AppState
) -> checks.CheckStart:
    started = await session.run_sync(
        checks.start_check,
        subscription.id,
        settings=state.settings,
        send=partial(send_check, state),
    )
    assert started is not None  # the subscription was just loaded in this transaction
    return started


async def list_page(
    session: AsyncSession, *, api_key: ApiKey, limit: int, offset: int
) -> tuple[list[Subscription], int]:
    return await session.run_sync(
        partial(repository.list_owned, api_key_id=api_key.id, limit=limit, offset=offset)
    )


async def present(
    session: AsyncSession, subscriptions: Sequence[Subscription]
) -> list[SubscriptionOut]:
    ids = [subscription.id for subscription in subscriptions]
    counts = await session.run_sync(repository.entry_counts, ids)
    return [_present(subscription, counts[subscription.id]) for subscription in subscriptions]


def _present(subscription: Subscription, counts: dict[str, int]) -> SubscriptionOut:
    return SubscriptionOut(
        id=subscription.id,
        url=subscription.url,
        name=subscription.name,
        kind=subscription.kind,
        tab=subscription.tab,
        options=subscription.options,
        filters=subscription.filters,
        check_interval_minutes=subscription.check_interval_minutes,
        paused=subscription.paused,
        backfill=subscription.backfill,
        keep_last=subscription.keep_last,
        priority=subscription.priority,
        created_at=subscription.created_at,
        last_check_at=subscription.last_check_at,
        next_check_at=None if subscription.paused else subscription.next_check_at,
        last_check_job_id=subscription.last_check_job_id,
        checking=subscription.checking_job_id is not None,
        last_error=JobError.of(subscription.last_error_code, subscription.last_error_message),
        counts=SubscriptionCounts(**counts),
        feed=FeedState(
            enabled=subscription.feed_token_digest is not None, media=subscription.feed_media
        ),
    )
