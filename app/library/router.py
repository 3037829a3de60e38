from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.dependencies import DbSession
from app.auth.dependencies import ReadKey
from app.auth.exceptions import AUTH_ERRORS, InsufficientScope
from app.core.database import utcnow
from app.core.errors import error_responses
from app.library import service
from app.library.exceptions import EmptySearchQuery, InvalidTimeRange, TooManyBuckets
from app.library.schemas import KeyStats, LibraryPage, Timeseries
from app.library.trends import MAX_BUCKETS, Bucket

router = APIRouter(prefix="/api/v1", tags=["library"])
MAX_QUERY_LENGTH = 200

SearchQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY_LENGTH,
        description="Words to find in titles, channels and transcripts; all must appear "
        "(case is ignored). Punctuation and search operators count as spaces.",
    ),
]


@router.get(
    "/library",
    response_model=LibraryPage,
    responses=error_responses(EmptySearchQuery, InsufficientScope, *AUTH_ERRORS),
    summary="Search the key's completed downloads by title, channel and transcript",
)
async def search_library(
    session: DbSession,
    api_key: ReadKey,
    q: SearchQuery,
    limit: int = Query(default=20, ge=1, le=100),
    offset: int = Query(default=0, ge=0, le=1_000_000_000),
) -> LibraryPage:
    return await service.search(session, api_key=api_key, query=q, limit=limit, offset=offset)


@router.get(
    "/stats",
    response_model=KeyStats,
    responses=error_responses(InsufficientScope, *AUTH_ERRORS),
    summary="Job, storage and library figures for the calling key",
)
async def get_stats(session: DbSession, api_key: ReadKey) -> KeyStats:
    return await service.key_stats(session, api_key=api_key)


@router.get(
    "/stats/timeseries",
    response_model=Timeseries,
    responses=error_responses(InvalidTimeRange, TooManyBuckets, InsufficientScope, *AUTH_ERRORS),
    summary="The calling key's jobs over time, in hourly or daily UTC buckets",
)
async def get_timeseries(
    session: DbSession,
    api_key: ReadKey,
    bucket: Annotated[Bucket, Query(description="The width of a bucket (UTC).")] = Bucket.DAY,
    start: Annotated[
        dt.datetime | None,
        Query(
            alias="from",
            description="ISO 8601; without a zone it is UTC. Rounded down to its bucket. "
            "Default: 30 days before `to`.",
        ),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        Query(
            alias="to",
            description="ISO 8601; without a zone it is UTC. Its bucket is included whole. "
            f"Default: now. At most {MAX_BUCKETS} buckets from `from`.",
        ),
    ] = None,
    all_keys: Annotated[
        bool, Query(description="Every key's jobs, not only the caller's (admin scope).")
    ] = False,
) -> Timeseries:
    if all_keys and not service.may_see_all_keys(api_key):
        raise InsufficientScope("all_keys=true needs the 'admin' scope.")
    return await service.timeseries(
        session,
        api_key=api_key,
        bucket=bucket,
        start=start,
        end=end,
        all_keys=all_keys,
        now=utcnow(),
    )
