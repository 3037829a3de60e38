"""A subscription's check: a family job (kind `subscription_check`) run by the downloads
pipeline like a channel's. It lists the source flat, and this module chooses its children
(`select_new`, the expansion's entry selector for the kind): only videos the subscription
has never seen, or failed ones not yet tried SUBSCRIPTION_MAX_ATTEMPTS times, that pass the
filters; the first check takes only the newest `backfill` of them and records the rest as
seen. The archive is written in the expansion's transaction, with the children. When the
check's family ends (`end_check`, an ending hook, in the ending's transaction) the archive
takes the children's outcomes and the subscription is free for its next check.

Importing this module registers both hooks with `app.downloads`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import redis
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.database import after_commit, utcnow
from app.downloads import repository as downloads_repository
from app.downloads import retention
from app.downloads.endings import ENDING_HOOKS, JobEffects
from app.downloads.engine.playlists import Entry
from app.downloads.expansion import ENTRY_SELECTORS, Selection
from app.downloads.families import NewChild
from app.downloads.repository import ClaimedJob
from app.jobs.models import Job, JobKind, JobStatus, Priority
from app.jobs.repository import update_jobs
from app.metrics import definitions as m
from app.metrics.service import Increments
from app.subscriptions import patterns, repository
from app.subscriptions.models import EntryStatus, Subscription, SubscriptionKind
from app.subscriptions.repository import ArchiveEntry
from app.subscriptions.schemas import SubscriptionFilters
from app.worker.context import WorkerContext, run_db
from app.youtube import routes

logger = logging.getLogger(__name__)

# Past broadcasts; "is_live" and "is_upcoming" are not videos yet: left for a later check.
PAST_LIVE = frozenset({"was_live", "post_live"})
NOT_YET = frozenset({"is_live", "is_upcoming"})
MAX_JITTER = dt.timedelta(minutes=30)
DUE_PER_TICK = 100  # checks beat starts a minute at most; the rest wait for the next tick
SPREAD_SECONDS = 50.0


# -- starting a check (the API's "check now" and beat) -------------------------------------


@dataclass(frozen=True)
class CheckStart:
    job_id: uuid.UUID
    started: bool


def next_check_time(interval_minutes: int, *, now: dt.datetime) -> dt.datetime:
    """The interval after `now`, plus up to 10% of it (at most 30 min) at random, so
    subscriptions made together drift apart instead of checking YouTube at the same time."""
    interval = dt.timedelta(minutes=interval_minutes)
    jitter = min(interval / 10, MAX_JITTER) * random.random()
    return now + interval + jitter


def check_collection(subscription: Subscription, settings: Settings) -> dict[str, Any]:
    """The check job's collection: how the pipeline lists the source."""
    filters = SubscriptionFilters.model_validate(subscription.filters)
    after_date = filters.uploaded_after_date(today=utcnow().date())
    after = after_date.isoformat() if after_date else None
    return {
        "subscription_id": str(subscription.id),
        "date_after": after,
        "max_items": settings.max_playlist_items,
        "newest_first": subscription.kind is SubscriptionKind.CHANNEL,
    }


def start_check(
    session: Session,
    subscription_id: uuid.UUID,
    *,
    settings: Settings,
    send: Callable[[uuid.UUID, Priority], object],
) -> CheckStart | None:
    """Create the subscription's check job, at the subscription's priority (its entries
    inherit it), and make it the running check, unless one runs (then its job, `started`
    False). `send` enqueues the job after the commit. None when the subscription is gone."""
    subscription = repository.get(session, subscription_id)
    if subscription is None:
        return None
    running = repository.checking_job(session, subscription_id)
    job = downloads_repository.add_submission(
        session,
        api_key_id=subscription.api_key_id,
        url=subscription.url,
        kind=JobKind.SUBSCRIPTION_CHECK,
        options=subscription.options,
        collection=check_collection(subscription, settings),
        priority=subscription.priority,
    )
    now = utcnow()
    next_at = next_check_time(subscription.check_interval_minutes, now=now)
    if not repository.claim_check(session, subscription_id, job.id, next_check_at=next_at):
        session.execute(delete(Job).where(Job.id == job.id))
        running = repository.checking_job(session, subscription_id)
        return CheckStart(running, started=False) if running else None
    if running is not None:
        logger.warning("subscription %s: check %s had ended unnoticed", subscription_id, running)
    after_commit(session, partial(send, job.id, job.priority))
    return CheckStart(job.id, started=True)


def start_due_checks(ctx: WorkerContext) -> int:
    """Beat's tick: start the checks that are due, none while YouTube pauses every route.
    The checks' messages are spread over the next minute (a random delay each), so many
    subscriptions due together never reach YouTube at once. Returns how many started."""
    if routes.all_resting(routes.route_states(ctx.redis, ctx.settings)):
        logger.info("every route rests after YouTube throttled it; no subscription checks")
        return 0
    due = run_db(ctx, repository.due, now=utcnow(), limit=DUE_PER_TICK)
    started = 0
    for subscription_id in due:
        delay = random.uniform(0, SPREAD_SECONDS) if len(due) > 1 else 0.0
        send = partial(_send_later, ctx, delay)
        start = run_db(ctx, start_check, subscription_id, settings=ctx.settings, send=send)
        started += bool(start and start.started)
    return started


def keep_last(ctx: WorkerContext) -> int:
    """Retention's `keep_last` per subscription: the files of its older downloads expire."""
    beyond = run_db(ctx, repository.beyond_keep_last)
    return retention.expire_jobs(ctx, beyond) if beyond else 0


def _send_later(ctx: WorkerContext, delay: float, job_id: uuid.UUID, priority: Priority) -> None:
    ctx.enqueue(job_id, delay, priority)


# -- the check's entries (the worker's expansion) ------------------------------------------


def exclusion(entry: Entry, filters: SubscriptionFilters, tab: str | None) -> str | None:
    """Why a listed entry is not wanted, or None."""
    if entry.short and not filters.include_shorts and tab != "shorts":
        return "filtered_shorts"
    if entry.live_status in PAST_LIVE and not filters.include_live and tab != "streams":
        return "filtered_live"
    title = entry.title or ""
    if filters.title_include and not patterns.matches(filters.title_include, title):
        return "filtered_title"
    if filters.title_exclude and patterns.matches(filters.title_exclude, title):
        return "filtered_title"
    if entry.duration is not None:
        if filters.min_duration is not None and entry.duration < filters.min_duration:
            return "filtered_duration"
        if filters.max_duration is not None and entry.duration > filters.max_duration:
            return "filtered_duration"
    return None


@dataclass(frozen=True)
class _Source:
    kind: SubscriptionKind
    tab: str | None
    filters: SubscriptionFilters
    backfill: int
    initialized: bool
    archived: dict[str, repository.Archived]


def _source(session: Session, subscription_id: uuid.UUID, video_ids: list[str]) -> _Source | None:
    subscription = repository.get(session, subscription_id)
    if subscription is None:
        return None
    return _Source(
        kind=subscription.kind,
        tab=subscription.tab.value if subscription.tab else None,
        filters=SubscriptionFilters.model_validate(subscription.filters),
        backfill=subscription.backfill,
        initialized=subscription.initialized,
        archived=repository.archived(session, subscription_id, video_ids),
    )


def select_new(ctx: WorkerContext, claimed: ClaimedJob, entries: list[Entry]) -> Selection:
    subscription_id = uuid.UUID((claimed.collection or {})["subscription_id"])
    source = run_db(ctx, _source, subscription_id, [entry.video_id for entry in entries])
    if source is None:
        return Selection([], [])
    limit = ctx.settings.subscription_max_attempts
    fresh: list[Entry] = []
    seen: list[Entry] = []
    skipped: list[dict[str, Any]] = []
    for entry in dict((entry.video_id, entry) for entry in entries).values():
        known = source.archived.get(entry.video_id)
        if known and not (known.status is EntryStatus.FAILED and known.attempts < limit):
            continue
        if entry.live_status in NOT_YET:
            continue
        reason = exclusion(entry, source.filters, source.tab)
        if reason is not None:
            seen.append(entry)
            skipped.append(_note(entry, reason))
        else:
            fresh.append(entry)
    if not source.initialized:
        # Newest first: a channel lists its newest upload first, a playlist its last.
        if source.kind is SubscriptionKind.PLAYLIST:
            fresh.reverse()
        seen += fresh[source.backfill :]
        fresh = fresh[: source.backfill]
    if source.filters.max_per_check is not None:
        fresh = fresh[: source.filters.max_per_check]  # the rest waits for the next check
    return Selection(
        fresh,
        skipped,
        record=partial(_record, ctx.redis, subscription_id, seen),
    )


def _note(entry: Entry, reason: str) -> dict[str, Any]:
    return {
        "position": entry.position,
        "video_id": entry.video_id,
        "title": entry.title,
        "reason": reason,
        "job_id": None,
    }


def _record(
    client: redis.Redis,
    subscription_id: uuid.UUID,
    seen: Sequence[Entry],
    session: Session,
    children: Sequence[NewChild],
) -> None:
    """In the expansion's transaction: the archive gets every new id, and the children
    the key's webhook (each new video's ending is announced, like a submission's). A
    subscription deleted during the listing keeps nothing: its children stay the key's
    downloads. The row is locked first, so a delete waits for this transaction."""
    subscription = repository.lock(session, subscription_id)
    if subscription is None:
        return
    entries = [
        ArchiveEntry(child.video_id, EntryStatus.QUEUED, child.title, job_id=child.id)
        for child in children
        if child.video_id is not None
    ] + [ArchiveEntry(entry.video_id, EntryStatus.SEEN, entry.title) for entry in seen]
    repository.record_entries(session, subscription_id, entries)
    subscription.initialized = True
    webhook_url = session.scalar(
        select(ApiKey.webhook_url).where(ApiKey.id == subscription.api_key_id)
    )
    if webhook_url and children:
        update_jobs(session, Job.id.in_([child.id for child in children]), webhook_url=webhook_url)
    if children:
        increments = Increments()
        increments.count(m.SUBSCRIPTION_NEW_VIDEOS, amount=len(children))
        after_commit(session, partial(increments.flush, client))


# -- the check's end -----------------------------------------------------------------------


def end_check(session: Session, effects: JobEffects, job_id: uuid.UUID, status: JobStatus) -> None:
    """In the check job's ending transaction: the archive takes its entries' outcomes, the
    subscription records the check's error (or clears it) and may check again."""
    ended = session.execute(
        select(Job.collection, Job.error_code, Job.error_message).where(Job.id == job_id)
    ).one()
    subscription_id = (ended.collection or {}).get("subscription_id")
    if subscription_id is None or status is JobStatus.EXPIRED:
        return
    failed = status is not JobStatus.COMPLETED
    exists = repository.end_check(
        session,
        uuid.UUID(subscription_id),
        job_id,
        error_code=ended.error_code if failed else None,
        error_message=ended.error_message if failed else None,
    )
    if not exists:
        return
    repository.settle_archive(session, uuid.UUID(subscription_id), job_id)
    increments = Increments()
    increments.count(m.SUBSCRIPTION_CHECKS, {"status": status.value})
    after_commit(session, partial(increments.flush, effects.redis))


ENTRY_SELECTORS[JobKind.SUBSCRIPTION_CHECK] = select_new
ENDING_HOOKS[JobKind.SUBSCRIPTION_CHECK] = end_check
