"""Parent jobs (playlists, channels, batches) and their children: counts, the settle that
dispatches children up to the concurrency cap and ends the parent, cancel and retry of a
family. Queries against a sync Session: workers call them directly, the API through
`run_sync`.

A parent is *expanded* once it is processing without a lease: its children exist and the
parent only waits for them. A child is *held* while queued without `dispatched_at`: its
parent has not sent it to the broker yet, which is how the concurrency cap works.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.database import after_commit, utcnow
from app.downloads.endings import JobEffects, end_job
from app.downloads.repository import not_transcribing, pausing_values, retry_values
from app.downloads.schemas import CollectionOptions
from app.jobs import events
from app.jobs.models import Job, JobKind, JobStage, JobStatus, Priority
from app.jobs.repository import compare_and_set, update_jobs
from app.jobs.schemas import ChildCounts, JobError
from app.worker.context import WorkerContext, run_db

# An expanded parent: it only waits for its children (no worker holds it).
EXPANDED = and_(
    Job.kind != JobKind.VIDEO,
    Job.status == JobStatus.PROCESSING,
    Job.heartbeat_at.is_(None),
)


@dataclass(frozen=True)
class NewChild:
    position: int
    url: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    kind: JobKind = JobKind.VIDEO
    video_id: str | None = None
    title: str | None = None
    duration: float | None = None  # from the listing, until the entry's own extraction
    collection: dict[str, Any] | None = None


@dataclass
class ByteWeights:
    """A family's progress weighted by its entries' bytes: a long video counts for more than
    a short clip. An entry whose size is not known yet weighs its duration (known from the
    listing) at the bytes per second of the entries already sized, or, without either, the
    average known weight. An ended entry counts as done."""

    sized: int = 0
    sized_bytes: float = 0.0
    sized_done: float = 0.0  # bytes times percent
    rated_bytes: float = 0.0  # the sized entries with a duration: their bytes and seconds
    rated_seconds: float = 0.0
    timed: int = 0  # unsized entries with a duration
    timed_seconds: float = 0.0
    timed_done: float = 0.0  # seconds times percent
    timed_percent: float = 0.0
    untimed: int = 0
    untimed_percent: float = 0.0

    def add(
        self, status: JobStatus, progress: float, total_bytes: int | None, duration: float | None
    ) -> None:
        done = 100.0 if status.is_terminal else progress
        if total_bytes:
            self.sized += 1
            self.sized_bytes += total_bytes
            self.sized_done += total_bytes * done
            if duration:
                self.rated_bytes += total_bytes
                self.rated_seconds += duration
        elif duration:
            self.timed += 1
            self.timed_seconds += duration
            self.timed_done += duration * done
            self.timed_percent += done
        else:
            self.untimed += 1
            self.untimed_percent += done

    def merge(self, other: ByteWeights) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def progress(self) -> float:
        weight, done, count = self.sized_bytes, self.sized_done, self.sized
        untimed, untimed_percent = self.untimed, self.untimed_percent
        if self.rated_seconds or not self.sized:
            # Seconds at the bytes per second seen so far (seconds alone when none is sized).
            rate = self.rated_bytes / self.rated_seconds if self.rated_seconds else 1.0
            weight += self.timed_seconds * rate
            done += self.timed_done * rate
            count += self.timed
        else:
            untimed += self.timed
            untimed_percent += self.timed_percent
        typical = weight / count if count else 1.0
        total = weight + untimed * typical
        return (done + untimed_percent * typical) / total if total else 0.0


@dataclass
class ChildTally:
    """Children of one parent by status, with their progress weighted by bytes."""

    by_status: dict[JobStatus, int] = field(default_factory=dict)
    weights: ByteWeights = field(default_factory=ByteWeights)
    held: int = 0

    def count(self, *statuses: JobStatus) -> int:
        return sum(self.by_status.get(status, 0) for status in statuses)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def open(self) -> int:
        """Children not ended: a paused one keeps its family open until it is resumed."""
        return self.count(JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.PAUSED)

    @property
    def running(self) -> int:
        """Children dispatched and not ended or paused: they take the concurrency slots."""
        return self.count(JobStatus.QUEUED, JobStatus.PROCESSING) - self.held

    @property
    def progress(self) -> float:
        return self.weights.progress

    def counts(self, skipped: int) -> ChildCounts:
        return ChildCounts(
            total=self.total,
            queued=self.count(JobStatus.QUEUED),
            processing=self.count(JobStatus.PROCESSING),
            completed=self.count(JobStatus.COMPLETED, JobStatus.EXPIRED),
            failed=self.count(JobStatus.FAILED),
            canceled=self.count(JobStatus.CANCELED),
            paused=self.count(JobStatus.PAUSED),
            skipped=skipped,
        )


@dataclass(frozen=True)
class Settlement:
    """What settling a parent did (its effects run after the commit)."""

    parent_id: uuid.UUID
    dispatched: list[uuid.UUID]
    canceled: list[uuid.UUID]
    progress: float
    ended: JobStatus | None = None


def effective_collection(options: CollectionOptions, settings: Settings) -> dict[str, Any]:
    """The options as the worker applies them: caps and defaults filled in."""
    return {
        **options.model_dump(mode="json"),
        "max_items": min(options.max_items or settings.max_playlist_items,
                         settings.max_playlist_items),
        "concurrency": min(options.concurrency or settings.playlist_concurrency,
                           settings.max_playlist_concurrency),
    }  # fmt: skip


def skipped_count(details: dict[str, Any] | None) -> int:
    return len((details or {}).get("skipped", []))


def tallies(session: Session, parent_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ChildTally]:
    """One grouped query for all the given parents."""
    result: dict[uuid.UUID, ChildTally] = {parent_id: ChildTally() for parent_id in parent_ids}
    if not parent_ids:
        return result
    held = and_(Job.status == JobStatus.QUEUED, Job.dispatched_at.is_(None))
    done = case((Job.status.in_([JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.PAUSED]),
                 Job.progress), else_=100.0)  # fmt: skip
    sized, timed = Job.total_bytes > 0, Job.duration > 0
    unsized = or_(Job.total_bytes.is_(None), Job.total_bytes <= 0)
    untimed = or_(Job.duration.is_(None), Job.duration <= 0)
    sums = {
        "sized_bytes": case((sized, Job.total_bytes)),
        "sized_done": case((sized, Job.total_bytes * done)),
        "rated_bytes": case((and_(sized, timed), Job.total_bytes)),
        "rated_seconds": case((and_(sized, timed), Job.duration)),
        "timed_seconds": case((and_(unsized, timed), Job.duration)),
        "timed_done": case((and_(unsized, timed), Job.duration * done)),
        "timed_percent": case((and_(unsized, timed), done)),
        "untimed_percent": case((and_(unsized, untimed), done)),
    }
    counts = {
        "sized": case((sized, 1)),
        "timed": case((and_(unsized, timed), 1)),
        "untimed": case((and_(unsized, untimed), 1)),
    }
    rows = session.execute(
        select(
            Job.parent_id,
            Job.status,
            func.count(),
            func.coalesce(func.sum(case((held, 1), else_=0)), 0),
            *(func.count(expression) for expression in counts.values()),
            *(func.coalesce(func.sum(expression), 0.0) for expression in sums.values()),
        )
        .where(Job.parent_id.in_(parent_ids))
        .group_by(Job.parent_id, Job.status)
    ).all()
    for parent_id, status, count, held_count, *columns in rows:
        tally = result[parent_id]
        tally.by_status[JobStatus(status)] = int(count)
        tally.held += int(held_count)
        weights = ByteWeights()
        for name, value in zip([*counts, *sums], columns, strict=True):
            setattr(weights, name, int(value) if name in counts else float(value))
        tally.weights.merge(weights)
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
    total_bytes: int | None = None
    duration: float | None = None


def child_states(session: Session, parent_id: uuid.UUID) -> list[ChildState]:
    rows = session.execute(
        select(Job.id, Job.status, Job.progress, Job.total_bytes, Job.duration)
        .where(Job.parent_id == parent_id)
        .order_by(Job.position)
    ).all()
    return [
        ChildState(row.id, JobStatus(row.status), row.progress, row.total_bytes, row.duration)
        for row in rows
    ]


def add_children(
    session: Session,
    parent_id: uuid.UUID,
    api_key_id: uuid.UUID,
    options: dict[str, Any],
    children: Iterable[NewChild],
    priority: Priority = Priority.NORMAL,
) -> None:
    """The entries of a parent, held until its settle dispatches them; they inherit its
    options and its priority."""
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
            duration=child.duration,
            options=options,
            collection=child.collection,
            priority=priority,
            status=JobStatus.QUEUED,
            created_at=now,
            dispatched_at=None,
            details={},
            files=[],
        )
        for child in children
    )
    session.flush()


def settle(
    session: Session, parent_id: uuid.UUID, *, effects: JobEffects, default_concurrency: int
) -> Settlement | None:
    """Dispatch held children up to the parent's concurrency and end the parent once no
    child is open. None when the parent is not expanded (nothing to do)."""
    # Writing the parent row first serializes concurrent settles of one parent: a row
    # lock on PostgreSQL, the database's write lock on SQLite.
    if not compare_and_set(session, parent_id, EXPANDED):
        return None
    parent = session.execute(
        select(Job.kind, Job.collection, Job.cancel_requested, Job.details, Job.parent_id).where(
            Job.id == parent_id
        )
    ).one()
    canceled = _cancel_open_children(session, effects, parent_id) if parent.cancel_requested else []
    tally = tallies(session, [parent_id])[parent_id]
    dispatched: list[tuple[uuid.UUID, Priority]] = []
    if tally.held and not parent.cancel_requested:
        concurrency = (parent.collection or {}).get("concurrency") or default_concurrency
        dispatched = _dispatch(session, parent_id, concurrency - tally.running)
    for child_id, priority in dispatched:
        after_commit(session, partial(effects.enqueue, child_id, 0, priority))
    if tally.open:
        update_jobs(session, Job.id == parent_id, progress=tally.progress)
        progress = _progress_event(parent_id, tally.progress, parent.parent_id)
        after_commit(session, partial(events.publish, effects.redis, progress))
        return Settlement(parent_id, [each for each, _ in dispatched], canceled, tally.progress)
    status, error = _outcome(
        tally,
        skipped_count(parent.details),
        parent.cancel_requested,
        nothing_new_is_fine=parent.kind is JobKind.SUBSCRIPTION_CHECK,
    )
    end_job(
        session,
        effects,
        parent_id,
        status=status,
        expected=EXPANDED,
        error=error,
        fields={
            "progress": 100.0 if status is JobStatus.COMPLETED else tally.progress,
            **({} if error else {"error_code": None, "error_message": None}),
        },
    )
    return Settlement(
        parent_id, [each for each, _ in dispatched], canceled, tally.progress, ended=status
    )


def _progress_event(
    job_id: uuid.UUID, progress: float, parent_id: uuid.UUID | None
) -> events.ProgressEvent:
    return events.ProgressEvent(
        type="progress",
        job_id=job_id,
        parent_id=parent_id,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        progress=round(progress, 1),
        at=utcnow(),
    )


def _outcome(
    tally: ChildTally, skipped: int, cancel_requested: bool, *, nothing_new_is_fine: bool = False
) -> tuple[JobStatus, JobError | None]:
    """`nothing_new_is_fine`: a subscription's check that found no new upload did its job."""
    if cancel_requested:
        return JobStatus.CANCELED, None
    if tally.count(JobStatus.COMPLETED, JobStatus.EXPIRED) or (
        not tally.total and (skipped or nothing_new_is_fine)
    ):
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


def _dispatch(
    session: Session, parent_id: uuid.UUID, slots: int
) -> list[tuple[uuid.UUID, Priority]]:
    if slots <= 0:
        return []
    held = select(Job.id, Job.priority).where(*_held(parent_id))
    rows = [
        (row.id, row.priority) for row in session.execute(held.order_by(Job.position).limit(slots))
    ]
    if rows:
        update_jobs(session, Job.id.in_([child_id for child_id, _ in rows]), dispatched_at=utcnow())
    return rows


def _held(parent_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return (
        Job.parent_id == parent_id,
        Job.status == JobStatus.QUEUED,
        Job.dispatched_at.is_(None),
    )


def _cancel_open_children(
    session: Session, effects: JobEffects, parent_id: uuid.UUID
) -> list[uuid.UUID]:
    """Queued and paused children end canceled now; running ones are asked to stop and end
    themselves at their next heartbeat (cooperative cancel: no worker is killed)."""
    waiting = Job.status.in_([JobStatus.QUEUED, JobStatus.PAUSED])
    queued = session.scalars(select(Job.id).where(Job.parent_id == parent_id, waiting)).all()
    canceled = [
        child_id
        for child_id in queued
        if end_job(
            session,
            effects,
            child_id,
            status=JobStatus.CANCELED,
            expected=waiting,
            settles_parent=False,  # this settle is the parent's
        )
    ]
    update_jobs(
        session,
        Job.parent_id == parent_id,
        Job.status == JobStatus.PROCESSING,
        cancel_requested=True,
    )
    return canceled


def request_family_cancel(session: Session, parent_id: uuid.UUID) -> list[uuid.UUID]:
    """Cancel an expanded parent: queued children end now, running ones are asked to stop,
    child parents likewise. Returns every parent to settle (the settle ends them)."""
    update_jobs(session, Job.id == parent_id, cancel_requested=True)
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


@dataclass
class FamilyPause:
    """What pausing or resuming a family changed: the jobs now paused (or queued again),
    and the parents to settle after the commit (a resume's dispatch)."""

    jobs: list[uuid.UUID] = field(default_factory=list)
    parents: list[uuid.UUID] = field(default_factory=list)


def pause_family(
    session: Session, parent_id: uuid.UUID, found: FamilyPause | None = None
) -> FamilyPause:
    """Pause an expanded parent and its unfinished entries: queued ones now, running ones at
    their worker's next heartbeat; nested playlists (a batch's) likewise. Entries waiting
    for speech recognition have their media: they finish."""
    found = found if found is not None else FamilyPause()
    if not compare_and_set(session, parent_id, EXPANDED, **pausing_values()):
        return found
    found.jobs.append(parent_id)
    children = Job.parent_id == parent_id
    queued = list(session.scalars(select(Job.id).where(children, Job.status == JobStatus.QUEUED)))
    if queued:
        update_jobs(session, Job.id.in_(queued), Job.status == JobStatus.QUEUED, **pausing_values())
        found.jobs.extend(queued)
    update_jobs(
        session,
        children,
        Job.status == JobStatus.PROCESSING,
        Job.worker_id.is_not(None),
        not_transcribing(),
        pause_requested=True,
    )
    nested = session.scalars(select(Job.id).where(children, EXPANDED)).all()
    for child_parent in nested:
        pause_family(session, child_parent, found)
    return found


def resume_family(
    session: Session, parent_id: uuid.UUID, found: FamilyPause | None = None
) -> FamilyPause:
    """Reopen a paused parent: its paused entries are queued again, held for the parent's
    settle to dispatch up to its concurrency; a pause its running entries have not acted on
    yet is withdrawn."""
    found = found if found is not None else FamilyPause()
    reopened = compare_and_set(
        session,
        parent_id,
        Job.status == JobStatus.PAUSED,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        worker_id=None,
        heartbeat_at=None,
        paused_at=None,
        pause_requested=False,
    )
    if not reopened:
        return found
    found.jobs.append(parent_id)
    found.parents.append(parent_id)
    children = Job.parent_id == parent_id
    nested = session.scalars(
        select(Job.id).where(children, Job.kind != JobKind.VIDEO, Job.status == JobStatus.PAUSED)
    ).all()
    paused = list(
        session.scalars(
            select(Job.id).where(
                children, Job.kind == JobKind.VIDEO, Job.status == JobStatus.PAUSED
            )
        )
    )
    # Held: the parent's settle dispatches them up to its concurrency.
    requeued = {"status": JobStatus.QUEUED, "paused_at": None, "dispatched_at": None}
    if paused:
        update_jobs(session, Job.id.in_(paused), Job.status == JobStatus.PAUSED, **requeued)
        found.jobs.extend(paused)
    update_jobs(session, children, Job.status == JobStatus.PROCESSING, pause_requested=False)
    for child_parent in nested:
        if has_children(session, child_parent):
            resume_family(session, child_parent, found)
        elif compare_and_set(session, child_parent, Job.status == JobStatus.PAUSED, **requeued):
            found.jobs.append(child_parent)
    return found


def is_paused_family(session: Session, job: Job) -> bool:
    """A paused parent that was expanded (it has entries to resume)."""
    return job.kind.is_parent and job.status is JobStatus.PAUSED and has_children(session, job.id)


def retry_failed_children(session: Session, parent_id: uuid.UUID) -> int:
    """Queue the parent's failed and canceled children again (held, so the concurrency cap
    holds) and reopen the parent. Completed children are kept. Returns how many."""
    return len(retry_children(session, parent_id))


def retry_children(
    session: Session, parent_id: uuid.UUID, only: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """`retry_failed_children` for the failed and canceled children among `only` (all when
    None): the others, and the completed ones, are kept. Returns the children queued."""
    ended = Job.status.in_([JobStatus.FAILED, JobStatus.CANCELED])
    query = select(Job.id).where(Job.parent_id == parent_id, ended)
    if only is not None:
        query = query.where(Job.id.in_(list(only)))
    ids = list(session.scalars(query))
    if not ids:
        return []
    update_jobs(session, Job.id.in_(ids), ended, **retry_values(held=True))
    update_jobs(
        session,
        Job.id == parent_id,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        worker_id=None,
        heartbeat_at=None,
        cancel_requested=False,
        error_code=None,
        error_message=None,
        completed_at=None,
    )
    return ids


def has_children(session: Session, parent_id: uuid.UUID) -> bool:
    return session.scalar(select(Job.id).where(Job.parent_id == parent_id).limit(1)) is not None


def expanded_parents(session: Session, limit: int = 1000) -> list[uuid.UUID]:
    return list(
        session.scalars(select(Job.id).where(EXPANDED).order_by(Job.updated_at).limit(limit))
    )


def is_expanded(job: Job) -> bool:
    return job.kind.is_parent and job.status is JobStatus.PROCESSING and job.heartbeat_at is None


# -- the worker's side ---------------------------------------------------------------------


def worker_effects(ctx: WorkerContext) -> JobEffects:
    """What follows a job's change in a worker: it settles parents itself."""
    return JobEffects(
        redis=ctx.redis,
        enqueue=ctx.enqueue,
        settle_parent=partial(settle_parent, ctx),
        work_dir=ctx.settings.work_dir,
    )


def settle_parent(ctx: WorkerContext, parent_id: uuid.UUID) -> None:
    run_db(
        ctx,
        settle,
        parent_id,
        effects=worker_effects(ctx),
        default_concurrency=ctx.settings.playlist_concurrency,
    )


def settle_all(ctx: WorkerContext) -> int:
    """Safety net of the reconciler: settle every expanded parent (a lost trigger, a worker
    that died between a child's end and its parent's settle)."""
    parents = run_db(ctx, expanded_parents)
    for parent_id in parents:
        settle_parent(ctx, parent_id)
    return len(parents)
