"""Library search, stats and their time series for the calling key. No HTTP here, and no
writes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.auth.models import ApiKey, Scope
from app.library import repository
from app.library.exceptions import EmptySearchQuery
from app.library.schemas import (
    KeyStats,
    LibraryItem,
    LibraryPage,
    Timeseries,
    TranscriptMatch,
    TrendBucket,
    TrendFigures,
)
from app.library.terms import SearchTerms, render_snippet
from app.library.trends import Bucket, Series, Tally, Window, window


async def search(
    session: AsyncSession, *, api_key: ApiKey, query: str, limit: int, offset: int
) -> LibraryPage:
    """The key's completed jobs whose title, channel or transcript hold every word of `query`."""
    terms = SearchTerms.parse(query)
    if not terms.words:
        raise EmptySearchQuery()
    hits, total = await session.run_sync(
        repository.search, api_key_id=api_key.id, terms=terms, limit=limit, offset=offset
    )
    return LibraryPage(
        items=[_item(hit, terms) for hit in hits], total=total, limit=limit, offset=offset
    )


def _item(hit: repository.LibraryHit, terms: SearchTerms) -> LibraryItem:
    return LibraryItem(
        job_id=hit.job_id,
        video_id=hit.video_id,
        title=hit.title,
        channel=hit.channel,
        url=hit.url,
        completed_at=hit.completed_at,
        snippet=render_snippet(hit.snippet),
        matches=[
            TranscriptMatch(start=start, end=end, text=text, language=language)
            for start, end, text, language in terms.matching_cues(hit.cues)
        ],
    )


async def key_stats(session: AsyncSession, *, api_key: ApiKey) -> KeyStats:
    stats = await session.run_sync(repository.key_stats, api_key.id)
    return KeyStats(
        jobs_by_status=stats.jobs_by_status,
        total_jobs=sum(stats.jobs_by_status.values()),
        files_stored=stats.files,
        bytes_stored=stats.bytes,
        library_entries=stats.library_entries,
    )


def may_see_all_keys(api_key: ApiKey) -> bool:
    """Every key's figures are an admin's to read, as the admin routes are."""
    return api_key.has_scope(Scope.ADMIN)


async def timeseries(
    session: AsyncSession,
    *,
    api_key: ApiKey,
    bucket: Bucket,
    start: dt.datetime | None,
    end: dt.datetime | None,
    all_keys: bool,
    now: dt.datetime,
) -> Timeseries:
    """The key's (or, `all_keys`, every key's) jobs in UTC buckets; the caller has checked
    that `all_keys` is allowed."""
    span = window(bucket, start, end, now=now)
    owner = None if all_keys else api_key.id
    series = await session.run_sync(_fold, owner, span)
    return Timeseries(
        bucket=bucket,
        start=span.start,
        end=span.end,
        all_keys=all_keys,
        buckets=[
            TrendBucket(start=begins, **_figures(tally).model_dump())
            for begins, tally in zip(span.starts(), series.buckets, strict=True)
        ],
        totals=_figures(series.total),
    )


def _fold(session: Session, owner: uuid.UUID | None, span: Window) -> Series:
    series = Series(span)
    for created_at in repository.created_times(session, owner, span.start, span.end):
        series.add_created(created_at)
    for ended in repository.ended_jobs(session, owner, span.start, span.end):
        series.add_ended(ended)
    return series


def _figures(tally: Tally) -> TrendFigures:
    return TrendFigures(
        created=tally.created,
        completed=tally.completed,
        failed=tally.failed,
        failed_by_code=dict(sorted(tally.failed_by_code.items())),
        bytes_stored=tally.bytes_stored,
        median_speed=tally.median_speed,
        median_duration=tally.median_duration,
    )
