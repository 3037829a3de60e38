"""Queries of parent jobs (playlists, channels, batches) and their children, against a sync
Session like every repository: workers call them directly, the API through `run_sync`.

A parent is *expanded* once it is processing without a lease: its children exist and the
parent only waits for them. A child is *held* while queued without `dispatched_at`: its
parent has not sent it to the broker yet, which is how the concurrency cap works.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.orm import Session

from app.core.database import utcnow
from app.downloads.models import Job, JobKind, JobStage, JobStatus
from app.downloads.repository import owned_by, retry_values
from app.downloads.schemas import ChildCounts, JobError

_CHUNK = 500


@dataclass(frozen=True)
class NewChild:
    position: int
    url: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    kind: JobKind = JobKind.VIDEO
    video_id: str | None = None
    title: str | None = None
    collection: dict[str, Any] | None = None


@dataclass
class ChildTally:
    """Children of one parent by status, with the summed progress of those still open."""

    by_status: dict[JobStatus, int] = field(default_factory=dict)
    open_progress: float = 0.0
    held: int = 0

    def count(self, *statuses: JobStatus) -> int:
        return sum(self.by_status.get(status, 0) for status in statuses)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def open(self) -> int:
        return self.count(JobStatus.QUEUED, JobStatus.PROCESSING)

    @property
    def progress(self) -> float:
        """Each child weighs the same; an ended child counts as done."""
        if not self.total:
            return 0.0
        return (self.open_progress + 100.0 * (self.total - self.open)) / self.total

    def counts(self, skipped: int) -> ChildCounts:
        return ChildCounts(
            total=self.total,
            queued=self.count(JobStatus.QUEUED),
            processing=self.count(JobStatus.PROCESSING),
            completed=self.count(JobStatus.COMPLETED, JobStatus.EXPIRED),
            failed=self.count(JobStatus.FAILED),
            canceled=self.count(JobStatus.CANCELED),
            skipped=skipped,
        )


@dataclass(frozen=True)
class Settlement:
    """What settling a parent did, for the caller to act on after the commit."""

    parent_id: uuid.UUID
    grandparent_id: uuid.UUID | None
    dispatched: list[uuid.UUID]
    canceled: list[uuid.UUID]
    progress: float
    ended: JobStatus | None = None
    error: JobError | None = None
    has_webhook: bool = False


def skipped_count(details: dict[str, Any] | None) -> int:
    return len((details or {}).get("skipped", []))


def tallies(session: Session, parent_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ChildTally]:
    """One grouped query for all the given parents."""
    result: dict[uuid.UUID, ChildTally] = {parent_id: ChildTally() for parent_id in parent_ids}
    if not parent_ids:
        return result
    is_open = Job.status.in_([JobStatus.QUEUED, JobStatus.PROCESSING])
    held = and_(Job.status == JobStatus.QUEUED, Job.dispatched_at.is_(None))
    rows = session.execute(
        select(
            Job.parent_id,
            Job.status,
            func.count(),
            func.coalesce(func.sum(case((is_open, Job.progress), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((held, 1), else_=0)), 0),
        )
        .where(Job.parent_id.in_(parent_ids))
        .group_by(Job.parent_id, Job.status)
    ).all()
    for parent_id, status, count, open_progress, held_count in rows:
        tally = result[parent_id]
        tally.by_status[JobStatus(status)] = int(count)
        tally.open_progress += float(open_progress)
        tally.held += int(held_count)
    return result


@dataclass(frozen=True)
class Family:
    """What a parent's API body shows of its children."""

    counts: ChildCounts
    progress: float


def families(session: Session, jobs: Sequence[Job]) -> dict[uuid.UUID, Family]:
    """The families of the parents among `jobs`, in one query."""
    parents = {job.id: job for job in jobs if job.kind.is_parent}
    return {
        parent_id: Family(tally.counts(skipped_count(parents[parent_id].details)), tally.progress)
        for parent_id, tally in tallies(session, list(parents)).items()
    }


@dataclass(frozen=True)
class ChildState:
    id: uuid.UUID
    status: JobStatus
    progress: float


def child_states(session: Session, parent_id: uuid.UUID) -> list[ChildState]:
    rows = session.execute(
        select(Job.id, Job.status, Job.progress)
        .where(Job.parent_id == parent_id)
        .order_by(Job.position)
    ).all()
    return [ChildState(row.id, JobStatus(row.status), row.progress) for row in rows]


def record_expansion(
    session: Session,
    parent_id: uuid.UUID,
    *,
    worker_id: str,
    children: Sequence[NewChild],
    fields: dict[str, Any],
) -> bool:
    """Insert the children and release the parent's lease in one transaction: from here on
    the parent is expanded and settles as its children end."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(owned_by(parent_id, worker_id))
        .values(
            worker_id=None,
            heartbeat_at=None,
            stage=JobStage.DOWNLOADING,
            progress=0.0,
            updated_at=now,
            **fields,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    parent = session.execute(select(Job.api_key_id, Job.options).where(Job.id == parent_id)).one()
    add_children(session, parent_id, parent.api_key_id, parent.options, children)
    return True


def add_children(
    session: Session,
    parent_id: uuid.UUID,
    api_key_id: uuid.UUID,
    options: dict[str, Any],
    children: Iterable[NewChild],
) -> None:
    now = utcnow()
    session.add_all(
        Job(
            id=child.id,
            api_key_id=api_key_id,
            parent_id=parent_id,
            position=child.position,
            kind=child.kind,
            url=child.url,
            video_id=child.video_id,
            title=child.title,
            options=options,
            collection=child.collection,
            status=JobStatus.QUEUED,
            created_at=now,
            dispatched_at=None,
            details={},
            files=[],
        )
        for child in children
    )
    session.flush()


def insert_batch(
    session: Session,
    *,
    api_key_id: uuid.UUID,
    options: dict[str, Any],
    collection: dict[str, Any],
    webhook_url: str | None,
    children: Sequence[NewChild],
) -> Job:
    """A batch is born expanded: its children are the accepted URLs."""
    now = utcnow()
    batch = Job(
        api_key_id=api_key_id,
        kind=JobKind.BATCH,
        url="",
        options=options,
        collection=collection,
        webhook_url=webhook_url,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        created_at=now,
        started_at=now,
        dispatched_at=now,
        details={},
        files=[],
    )
    session.add(batch)
    session.flush()
    add_children(session, batch.id, api_key_id, options, children)
    return batch


def completed_videos(
    session: Session, api_key_id: uuid.UUID, video_ids: Sequence[str], options: dict[str, Any]
) -> dict[str, uuid.UUID]:
    """Which of `video_ids` the key already has completed with exactly these options."""
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(video_ids), _CHUNK):
        rows = session.execute(
            select(Job.id, Job.video_id, Job.options).where(
                Job.api_key_id == api_key_id,
                Job.kind == JobKind.VIDEO,
                Job.status == JobStatus.COMPLETED,
                Job.video_id.in_(video_ids[start : start + _CHUNK]),
            )
        ).all()
        found.update({row.video_id: row.id for row in rows if row.options == options})
    return found


def _expanded_parent(parent_id: uuid.UUID) -> Any:
    return and_(
        Job.id == parent_id,
        Job.kind != JobKind.VIDEO,
        Job.status == JobStatus.PROCESSING,
        Job.heartbeat_at.is_(None),
    )


def settle(
    session: Session, parent_id: uuid.UUID, *, default_concurrency: int
) -> Settlement | None:
    """Dispatch held children up to the parent's concurrency and end the parent once no
    child is open. None when the parent is not expanded (nothing to do)."""
    now = utcnow()
    # Writing the parent row first serializes concurrent settles of one parent: a row
    # lock on PostgreSQL, the database's write lock on SQLite.
    touched = session.execute(
        update(Job)
        .where(_expanded_parent(parent_id))
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount != 1:  # type: ignore[attr-defined]
        return None
    parent = session.execute(
        select(
            Job.collection, Job.cancel_requested, Job.details, Job.parent_id, Job.webhook_url
        ).where(Job.id == parent_id)
    ).one()
    canceled = _cancel_open_children(session, parent_id) if parent.cancel_requested else []
    tally = tallies(session, [parent_id])[parent_id]
    dispatched: list[uuid.UUID] = []
    if tally.held and not parent.cancel_requested:
        concurrency = (parent.collection or {}).get("concurrency") or default_concurrency
        running = tally.open - tally.held
        dispatched = _dispatch(session, parent_id, concurrency - running)
    settlement = Settlement(
        parent_id=parent_id,
        grandparent_id=parent.parent_id,
        dispatched=dispatched,
        canceled=canceled,
        progress=tally.progress,
        has_webhook=bool(parent.webhook_url),
    )
    if tally.open:
        _update(session, parent_id, progress=tally.progress)
        return settlement
    status, error = _outcome(tally, skipped_count(parent.details), parent.cancel_requested)
    _update(
        session,
        parent_id,
        status=status,
        stage=None,
        progress=100.0 if status is JobStatus.COMPLETED else tally.progress,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        completed_at=now,
    )
    return dataclasses.replace(settlement, ended=status, error=error)


def _outcome(
    tally: ChildTally, skipped: int, cancel_requested: bool
) -> tuple[JobStatus, JobError | None]:
    if cancel_requested:
        return JobStatus.CANCELED, None
    if tally.count(JobStatus.COMPLETED, JobStatus.EXPIRED) or (skipped and not tally.total):
        return JobStatus.COMPLETED, None
    if not tally.total:
        return JobStatus.FAILED, JobError(
            code="playlist_empty",
            message="No entries to download (the list is empty, or nothing matched "
            "playlist_items or the dates).",
        )
    return JobStatus.FAILED, JobError(
        code="all_entries_failed", message=f"All {tally.total} entries failed or were canceled."
    )


def _dispatch(session: Session, parent_id: uuid.UUID, slots: int) -> list[uuid.UUID]:
    if slots <= 0:
        return []
    ids = list(
        session.scalars(
            select(Job.id)
            .where(
                Job.parent_id == parent_id,
                Job.status == JobStatus.QUEUED,
                Job.dispatched_at.is_(None),
            )
            .order_by(Job.position)
            .limit(slots)
        )
    )
    if ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(dispatched_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return ids


def _cancel_open_children(session: Session, parent_id: uuid.UUID) -> list[uuid.UUID]:
    """Queued children end canceled now; running ones are asked to stop (rule 6)."""
    now = utcnow()
    queued = list(
        session.scalars(
            select(Job.id).where(Job.parent_id == parent_id, Job.status == JobStatus.QUEUED)
        )
    )
    if queued:
        session.execute(
            update(Job)
            .where(Job.id.in_(queued), Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.CANCELED, stage=None, completed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Job)
        .where(Job.parent_id == parent_id, Job.status == JobStatus.PROCESSING)
        .values(cancel_requested=True, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return queued


def _update(session: Session, job_id: uuid.UUID, **values: Any) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


def request_family_cancel(session: Session, parent_id: uuid.UUID) -> list[uuid.UUID]:
    """Cancel an expanded parent: queued children end now, running ones are asked to stop,
    child parents likewise. Returns every parent to settle (the settle ends them)."""
    _update(session, parent_id, cancel_requested=True)
    to_settle = [parent_id]
    nested = session.scalars(
        select(Job.id).where(
            Job.parent_id == parent_id,
            Job.kind != JobKind.VIDEO,
            Job.status == JobStatus.PROCESSING,
            Job.heartbeat_at.is_(None),
        )
    ).all()
    for child_parent in nested:
        to_settle.extend(request_family_cancel(session, child_parent))
    return to_settle


def canceled_children(session: Session, parent_id: uuid.UUID) -> list[uuid.UUID]:
    """Cancel the parent's queued children now (API side, for immediate feedback)."""
    return _cancel_open_children(session, parent_id)


def retry_failed_children(session: Session, parent_id: uuid.UUID) -> int:
    """Queue the parent's failed and canceled children again (held, so the concurrency cap
    holds) and reopen the parent. Completed children are kept. Returns how many."""
    ids = list(
        session.scalars(
            select(Job.id).where(
                Job.parent_id == parent_id,
                Job.status.in_([JobStatus.FAILED, JobStatus.CANCELED]),
            )
        )
    )
    if not ids:
        return 0
    session.execute(
        update(Job)
        .where(Job.id.in_(ids))
        .values(**retry_values(held=True))
        .execution_options(synchronize_session=False)
    )
    _update(
        session,
        parent_id,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        worker_id=None,
        heartbeat_at=None,
        cancel_requested=False,
        error_code=None,
        error_message=None,
        completed_at=None,
    )
    return len(ids)


def has_children(session: Session, parent_id: uuid.UUID) -> bool:
    return session.scalar(select(Job.id).where(Job.parent_id == parent_id).limit(1)) is not None


def expanded_parents(session: Session, limit: int = 1000) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.kind != JobKind.VIDEO,
                Job.status == JobStatus.PROCESSING,
                Job.heartbeat_at.is_(None),
            )
            .order_by(Job.updated_at)
            .limit(limit)
        )
    )


def drop_child(
    session: Session, child_id: uuid.UUID, *, worker_id: str, skipped: dict[str, Any]
) -> uuid.UUID | None:
    """Remove a child that turned out not to belong (outside the date window) and note it
    on its parent as skipped. Returns the parent's id, None when the lease was lost."""
    parent_id = session.scalar(select(Job.parent_id).where(owned_by(child_id, worker_id)))
    if parent_id is None:
        return None
    _update(session, parent_id)  # lock the parent first, as settle does
    details = dict(session.scalar(select(Job.details).where(Job.id == parent_id)) or {})
    details["skipped"] = [*details.get("skipped", []), skipped]
    _update(session, parent_id, details=details)
    session.execute(delete(Job).where(Job.id == child_id))
    return parent_id
