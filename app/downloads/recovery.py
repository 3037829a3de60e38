"""Recovering from many failures at once: a key's failed and canceled jobs grouped by
error code (with what to do about each), and a bulk retry of those matching a filter.

A bulk retry is the single retry (`service.retry_job`) applied to each matching job, so a
retried job is queued, dispatched and announced exactly as by `POST …/{id}/retry`. Two
things only a bulk retry needs: it is bounded (at most `RetryFilter.limit` jobs a call,
`BULK_RETRY_LIMIT` at most, saying when more match), and it keeps to the key's active-jobs
quota, since one call could otherwise put a hundred submissions back in the queue at once.
"""

from __future__ import annotations

import uuid
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.api.state import AppState
from app.auth.exceptions import QuotaExceeded
from app.auth.models import ApiKey
from app.core.database import after_commit
from app.downloads import families, repository, service
from app.downloads.exceptions import JobNotRetryable
from app.downloads.repository import FailureScope
from app.downloads.schemas import (
    FailureGroupOut,
    FailureSample,
    FailuresOut,
    RetryFilter,
    RetryOutcome,
    RetrySkipped,
)
from app.jobs.exceptions import JobNotFound
from app.jobs.hints import hint_for
from app.jobs.models import Job
from app.jobs.repository import get_owned_job
from app.jobs.schemas import JobError
from app.worker.dispatch import enqueue_settle


async def failures(
    session: AsyncSession, *, api_key: ApiKey, parent_id: uuid.UUID | None
) -> FailuresOut:
    """The key's failed and canceled submissions (or a family's entries) by error code."""
    if parent_id is not None:
        await _owned_parent(session, api_key, parent_id)
    scope = FailureScope(api_key_id=api_key.id, parent_id=parent_id)
    rows = await session.run_sync(repository.failure_groups, scope)
    return FailuresOut(
        total=sum(row.count for row in rows),
        groups=[
            FailureGroupOut(
                code=row.code,
                count=row.count,
                hint=hint_for(row.code),
                sample=FailureSample(
                    job_id=row.job_id,
                    url=row.url,
                    title=row.title,
                    message=row.message,
                    at=row.at,
                ),
            )
            for row in rows
        ],
    )


class _Tally:
    """What a bulk retry did with each job it looked at."""

    def __init__(self) -> None:
        self.retried: list[uuid.UUID] = []
        self.skipped: list[RetrySkipped] = []

    def skip(self, job_id: uuid.UUID, error: QuotaExceeded | JobNotRetryable) -> None:
        self.skipped.append(
            RetrySkipped(job_id=job_id, error=JobError(code=error.code, message=error.message))
        )


async def retry_matching(
    session: AsyncSession, *, api_key: ApiKey, request: RetryFilter, state: AppState
) -> RetryOutcome:
    """Retry the key's failed or canceled jobs matching `request`, up to its limit."""
    parent = None
    if request.parent_id is not None:
        parent = await _owned_parent(session, api_key, request.parent_id)
    scope = FailureScope(
        api_key_id=api_key.id,
        parent_id=request.parent_id,
        statuses=request.statuses,
        codes=request.error_codes,
        since=request.since,
    )
    found = await session.run_sync(repository.matching_failures, scope, limit=request.limit + 1)
    jobs = list(found[: request.limit])
    free = await session.run_sync(service.free_active_slots, api_key, state.settings)
    tally = _Tally()
    if parent is not None and parent.status.is_terminal:
        await _reopen_family(session, parent=parent, entries=jobs, free=free, tally=tally)
    else:
        await _retry_each(session, jobs=jobs, free=free, tally=tally)
    return RetryOutcome(
        matched=len(jobs),
        retried=len(tally.retried),
        not_retried=len(tally.skipped),
        retried_ids=tally.retried,
        skipped=tally.skipped,
        more=len(found) > request.limit,
        limit=request.limit,
    )


async def _retry_each(session: AsyncSession, *, jobs: list[Job], free: int, tally: _Tally) -> None:
    """Each job through the single retry. A submission takes one of the key's free active
    slots; an entry of a family still running takes none (its family holds one)."""
    for job in jobs:
        takes_slot = job.parent_id is None
        if takes_slot and free <= 0:
            tally.skip(job.id, _quota_error())
            continue
        try:
            await service.retry_job(session, job=job)
        except JobNotRetryable as exc:
            tally.skip(job.id, exc)
            continue
        tally.retried.append(job.id)
        if takes_slot:
            free -= 1


async def _reopen_family(
    session: AsyncSession, *, parent: Job, entries: list[Job], free: int, tally: _Tally
) -> None:
    """Entries of an ended family: as the family's own retry does, they wait for their
    parent to dispatch them (its concurrency holds) and the parent runs again, now for
    these entries only. The reopened family takes one active slot when it is a submission."""
    if not entries:
        return
    if parent.parent_id is None and free <= 0:
        for entry in entries:
            tally.skip(entry.id, _quota_error())
        return
    queued = await session.run_sync(
        families.retry_children, parent.id, [entry.id for entry in entries]
    )
    if queued:
        after_commit(session, partial(enqueue_settle, parent.id))
    requeued = set(queued)
    for entry in entries:
        if entry.id in requeued:
            tally.retried.append(entry.id)
        else:
            tally.skip(entry.id, JobNotRetryable("It changed meanwhile; it is no longer failed."))


def _quota_error() -> QuotaExceeded:
    return QuotaExceeded(
        "The key's queued and running jobs reached its limit; retry the rest once some "
        "have finished."
    )


async def _owned_parent(session: AsyncSession, api_key: ApiKey, parent_id: uuid.UUID) -> Job:
    """Another key's family answers as a missing one: jobs are visible only to their key."""
    parent = await session.run_sync(get_owned_job, parent_id, api_key.id)
    if parent is None:
        raise JobNotFound()
    return parent
