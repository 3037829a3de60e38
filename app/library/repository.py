"""Library and stats queries against a sync Session (the API calls them through run_sync).

PostgreSQL searches the stored tsvector column `search` that the migration indexed (GIN,
`ix_library_search`); SQLite searches the FTS5 table `library_fts`, whose rowids are the
`id`s of `library_entries`. Both rank, count and page the caller's
completed jobs only; a second query fetches the page's rows with their snippets, so the
excerpts are built for at most `limit` rows, never for every match.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from app.jobs.models import Job, JobFile, JobKind, JobStatus
from app.library.models import LibraryEntry
from app.library.terms import MARK_END, MARK_START, SearchTerms
from app.library.trends import Ended

# What the generated `search` column holds (migration 0004), for ts_headline.
_SEARCH_TEXT = (
    "coalesce(library_entries.title, '') || ' ' || coalesce(library_entries.channel, '') "
    "|| ' ' || coalesce(library_entries.transcript, '')"
)
_PG_DOCUMENT: ColumnElement[Any] = literal_column("library_entries.search")
_PG_HEADLINE_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=12, ShortWord=0, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_SNIPPET_TOKENS = 24

_FTS = table("library_fts", column("rowid", Integer))
# FTS5's hidden column named after its table: the left side of MATCH, bm25() and snippet().
_FTS_TABLE: ColumnElement[Any] = literal_column("library_fts")


@dataclass(frozen=True)
class LibraryHit:
    job_id: uuid.UUID
    video_id: str | None
    url: str
    title: str
    channel: str
    completed_at: dt.datetime | None
    snippet: str  # matched words between MARK_START and MARK_END, not yet escaped
    cues: list[list[Any]]


@dataclass(frozen=True)
class KeyStats:
    jobs_by_status: dict[JobStatus, int]
    files: int
    bytes: int
    library_entries: int


def _searchable(api_key_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return LibraryEntry.api_key_id == api_key_id, Job.status == JobStatus.COMPLETED


def _on_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def search(
    session: Session, *, api_key_id: uuid.UUID, terms: SearchTerms, limit: int, offset: int
) -> tuple[list[LibraryHit], int]:
    """One page of the key's completed jobs matching every word, best first, and the total."""
    run = _search_sqlite if _on_sqlite(session) else _search_postgres
    return run(session, api_key_id=api_key_id, terms=terms, limit=limit, offset=offset)


def _search_postgres(
    session: Session, *, api_key_id: uuid.UUID, terms: SearchTerms, limit: int, offset: int
) -> tuple[list[LibraryHit], int]:
    # The planner prices a sequential scan without the TOASTed tsvectors it must then
    # decompress, one per entry, and picks it for common words; the GIN index answers
    # the match without reading them (benchmarks/library_search.py). This transaction only.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    query = func.plainto_tsquery(literal_column("'simple'"), terms.plain_text())
    matching = (
        select(LibraryEntry.job_id)
        .join(Job, Job.id == LibraryEntry.job_id)
        .where(_PG_DOCUMENT.bool_op("@@")(query), *_searchable(api_key_id))
    )
    rank = func.ts_rank(_PG_DOCUMENT, query)
    snippet = func.ts_headline(
        literal_column("'simple'"), literal_column(_SEARCH_TEXT), query, _PG_HEADLINE_OPTIONS
    )
    # The page's rows are already known to match: no need to rebuild their tsvectors.
    details = select(*_hit_columns(snippet)).join(Job, Job.id == LibraryEntry.job_id)
    return _page(session, matching, rank.desc(), details, limit=limit, offset=offset)


def _search_sqlite(
    session: Session, *, api_key_id: uuid.UUID, terms: SearchTerms, limit: int, offset: int
) -> tuple[list[LibraryHit], int]:
    matching = (
        select(LibraryEntry.job_id)
        .select_from(_FTS)
        .join(LibraryEntry, _FTS.c.rowid == LibraryEntry.id)
        .join(Job, Job.id == LibraryEntry.job_id)
        .where(_FTS_TABLE.bool_op("MATCH")(terms.fts5_query()), *_searchable(api_key_id))
    )
    # bm25() is lower for better matches; snippet() picks the best column itself (-1) and,
    # like bm25(), works only in the query that has the MATCH.
    rank = func.bm25(_FTS_TABLE)
    snippet = func.snippet(_FTS_TABLE, -1, MARK_START, MARK_END, "…", _SNIPPET_TOKENS)
    details = matching.with_only_columns(*_hit_columns(snippet))
    # Counted from the FTS index outwards: as a join, SQLite would walk every entry of
    # the key and probe the index for each.
    found = select(_FTS.c.rowid).where(_FTS_TABLE.bool_op("MATCH")(terms.fts5_query()))
    counted = (
        select(LibraryEntry.job_id)
        .join(Job, Job.id == LibraryEntry.job_id)
        .where(LibraryEntry.id.in_(found), *_searchable(api_key_id))
    )
    return _page(
        session, matching, rank.asc(), details, limit=limit, offset=offset, counted=counted
    )


def _hit_columns(snippet: ColumnElement[str]) -> tuple[SQLColumnExpression[Any], ...]:
    """The columns of a LibraryHit, in its field order."""
    return (
        LibraryEntry.job_id,
        Job.video_id,
        Job.url,
        LibraryEntry.title,
        LibraryEntry.channel,
        Job.completed_at,
        snippet,
        LibraryEntry.cues,
    )


def _page(
    session: Session,
    matching: Select[uuid.UUID],
    best_first: ColumnElement[Any],
    details: Select[Any],
    *,
    limit: int,
    offset: int,
    counted: Select[uuid.UUID] | None = None,
) -> tuple[list[LibraryHit], int]:
    counting = (counted if counted is not None else matching).subquery()
    total = session.scalar(select(func.count()).select_from(counting)) or 0
    ordered = matching.order_by(best_first, Job.completed_at.desc(), Job.id)
    page = list(session.scalars(ordered.limit(limit).offset(offset)))
    if not page:
        return [], total
    rows = session.execute(details.where(LibraryEntry.job_id.in_(page))).all()
    hits = {row[0]: LibraryHit(*row) for row in rows}
    return [hits[job_id] for job_id in page if job_id in hits], total


def key_stats(session: Session, api_key_id: uuid.UUID) -> KeyStats:
    """Every job row of the key (children of playlists included), its files and library."""
    by_status = dict.fromkeys(JobStatus, 0)
    rows = session.execute(
        select(Job.status, func.count()).where(Job.api_key_id == api_key_id).group_by(Job.status)
    ).all()
    by_status.update({JobStatus(status): count for status, count in rows})
    files, size = session.execute(
        select(func.count(JobFile.id), func.coalesce(func.sum(JobFile.size), 0))
        .join(Job, Job.id == JobFile.job_id)
        .where(Job.api_key_id == api_key_id)
    ).one()
    entries = session.scalar(
        select(func.count())
        .select_from(LibraryEntry)
        .join(Job, Job.id == LibraryEntry.job_id)
        .where(*_searchable(api_key_id))
    )
    return KeyStats(
        jobs_by_status=by_status, files=files, bytes=int(size), library_entries=entries or 0
    )


# Rows are streamed in batches of this many: a long window holds only its figures in memory.
_TREND_BATCH = 2000
# Completed then expired (its files removed) still completed in its bucket.
_SUCCEEDED = (JobStatus.COMPLETED, JobStatus.EXPIRED)


def _owned_by(api_key_id: uuid.UUID | None) -> tuple[ColumnElement[bool], ...]:
    """The key's jobs, or every key's (None, for an admin)."""
    return () if api_key_id is None else (Job.api_key_id == api_key_id,)


def created_times(
    session: Session, api_key_id: uuid.UUID | None, start: dt.datetime, end: dt.datetime
) -> Iterator[dt.datetime]:
    """When each job of the key (playlist entries included) was created in [start, end)."""
    query = select(Job.created_at).where(
        *_owned_by(api_key_id), Job.created_at >= start, Job.created_at < end
    )
    yield from session.scalars(query.execution_options(yield_per=_TREND_BATCH))


def ended_jobs(
    session: Session, api_key_id: uuid.UUID | None, start: dt.datetime, end: dt.datetime
) -> Iterator[Ended]:
    """The key's jobs that completed (kept or since expired) or failed in [start, end), with
    the size of the files still kept for them."""
    # Per job, through the index on job_files.job_id: never an aggregate of every file.
    stored = (
        select(func.coalesce(func.sum(JobFile.size), 0))
        .where(JobFile.job_id == Job.id)
        .scalar_subquery()
    )
    query = select(
        Job.completed_at,
        Job.status,
        Job.error_code,
        Job.started_at,
        Job.downloaded_bytes,
        stored,
        Job.kind,
    ).where(
        *_owned_by(api_key_id),
        Job.status.in_([*_SUCCEEDED, JobStatus.FAILED]),
        Job.completed_at >= start,
        Job.completed_at < end,
    )
    rows = session.execute(query.execution_options(yield_per=_TREND_BATCH))
    for completed_at, status, code, started_at, downloaded, size, kind in rows:
        yield Ended(
            completed_at=completed_at,
            succeeded=status in _SUCCEEDED,
            error_code=code,
            started_at=started_at,
            downloaded_bytes=downloaded,
            stored_bytes=int(size),
            is_download=kind is JobKind.VIDEO,
        )
