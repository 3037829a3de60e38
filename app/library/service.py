"""Library search and stats for the calling key. No HTTP here, and no writes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.library import repository
from app.library.exceptions import EmptySearchQuery
from app.library.schemas import KeyStats, LibraryItem, LibraryPage, TranscriptMatch
from app.library.terms import SearchTerms, render_snippet


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
