from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.dependencies import DbSession
from app.auth.dependencies import ReadKey
from app.auth.exceptions import AUTH_ERRORS, InsufficientScope
from app.core.errors import error_responses
from app.library import service
from app.library.exceptions import EmptySearchQuery
from app.library.schemas import KeyStats, LibraryPage

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
