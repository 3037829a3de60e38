"""Queries of download jobs, written once against a sync Session: workers call them
directly, the API through `AsyncSession.run_sync`. A worker changes a job only while it
holds the job's lease (`held_by`); endings go through `app.downloads.endings`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Uuid,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from app.core.database import UTCDateTime, utcnow
from app.jobs.hints import CANCELED_CODE, UNKNOWN_CODE
from app.jobs.models import (
    FileState,
    Job,
    JobFile,
    JobKind,
    JobStage,
    JobStatus,
    Priority,
    WaitingReason,
)
from app.jobs.repository import add_files, compare_and_set
from app.jobs.schemas import JobError
from app.library.indexing import remove_entries
from app.webhooks.models import WebhookDelivery


@dataclass(frozen=True)
class ClaimedJob:
    id: uuid.UUID
    url: str
    options: dict[str, Any]
    attempts: int
    progress: float
    started_at: dt.datetime
    retries: int
    kind: JobKind = JobKind.VIDEO
    last_error: JobError | None = None
    api_key_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    collection: dict[str, Any] | None = None
    # Storage keys of files the job already holds intact (a retry of damaged files keeps them).
    intact_keys: frozenset[str] = frozenset()
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True)
class PutOff:
    """A queued job a worker put off: what its status event needs."""

    progress: float
    parent_id: uuid.UUID | None
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True)
class Raised:
    """A queued job raised a priority step for its wait: what its message and its status
    event need."""

    job_id: uuid.UUID
    priority: Priority
    progress: float
    parent_id: uuid.UUID | None
    waiting_reason: WaitingReason | None


@dataclass(frozen=True)
class LeaseState:
    owned: bool
    cancel_requested: bool
    pause_requested: bool = False


@dataclass(frozen=True)
class StuckJob:
    id: uuid.UUID
    status: JobStatus
    attempts: int
    cancel_requested: bool
    last_error: JobError | None = None
    stage: JobStage | None = None
    claimed: bool = False  # a worker holds (held) it; else it waits for one (transcribing)
    pause_requested: bool = False
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True)
class ClaimedTranscription:
    """A job whose media is stored, taken by a speech-recognition worker."""

    id: uuid.UUID
    attempts: int
    progress: float
    started_at: dt.datetime
    video_id: str
    title: str | None
    url: str
    options: dict[str, Any]
    parent_id: uuid.UUID | None
    downloaded_bytes: int
    stored_bytes: int


_INSERT_JOB = insert(Job)


def add_submission(
    session: Session,
    *,
    api_key_id: uuid.UUID,
    url: str,
    options: dict[str, Any],
    kind: JobKind = JobKind.VIDEO,
    collection: dict[str, Any] | None = None,
    webhook_url: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Job:
    """A submission's row (queued, dispatched now), written with one INSERT on the session's
    connection rather than the ORM's flush (it runs on every accepted download). The Job
    returned is not in the session: it describes the row, for the response."""
    now = utcnow()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "api_key_id": api_key_id,
        "url": url,
        "kind": kind,
        "options": options,
        "collection": collection,
        "webhook_url": webhook_url,
        "priority": priority,
        "status": JobStatus.QUEUED,
        "progress": 0.0,
        "details": {},
        "cancel_requested": False,
        "pause_requested": False,
        "attempts": 0,
        "retries": 0,
        "created_at": now,
        "updated_at": now,
        "dispatched_at": now,
    }
    session.connection().execute(_INSERT_JOB, values)
    return Job(**values, files=[])


def list_jobs(
    session: Session,
    *,
    api_key_id: uuid.UUID,
    status: JobStatus | None,
    parent_id: uuid.UUID | None = None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Job], int]:
    """The key's submissions, newest first; with `parent_id`, that parent's children in
    playlist order. Subscription checks that completed with nothing new are left out: a
    subscription checks every hour or so, and a list of empty checks would bury the
    downloads (the check stays readable by id, and its subscription shows it)."""
    condition = and_(
        Job.api_key_id == api_key_id,
        Job.parent_id == parent_id if parent_id is not None else Job.parent_id.is_(None),
    )
    if parent_id is None:
        condition = and_(condition, ~_empty_check())
    if status is not None:
        condition = and_(condition, Job.status == status)
    order = (Job.position, Job.id) if parent_id is not None else (Job.created_at.desc(), Job.id)
    total = session.scalar(select(func.count()).select_from(Job).where(condition)) or 0
    jobs = session.scalars(
        select(Job).where(condition).order_by(*order).limit(limit).offset(offset)
    ).all()
    return jobs, total


def _empty_check() -> ColumnElement[bool]:
    child = aliased(Job)
    return and_(
        Job.kind == JobKind.SUBSCRIPTION_CHECK,
        Job.status == JobStatus.COMPLETED,
        ~exists().where(child.parent_id == Job.id),
    )


def family_storage_keys(session: Session, job_id: uuid.UUID) -> dict[uuid.UUID, list[str]]:
    """The stored files of a job and of its descendants, by job."""
    ids = family_ids(session, job_id)
    keys: dict[uuid.UUID, list[str]] = {each: [] for each in ids}
    query = select(JobFile.job_id, JobFile.storage_key).where(JobFile.job_id.in_(ids))
    for owner, key in session.execute(query):
        keys[owner].append(key)
    return keys


def family_ids(session: Session, job_id: uuid.UUID) -> list[uuid.UUID]:
    """The job and its descendants (a batch's playlists' entries too), parents first."""
    ids, level = [job_id], [job_id]
    while level:
        level = list(session.scalars(select(Job.id).where(Job.parent_id.in_(level))))
        ids.extend(level)
    return ids


def claim_job(
    session: Session, job_id: uuid.UUID, *, worker_id: str, lease_seconds: int
) -> ClaimedJob | None:
    """Compare-and-set: take a queued job, or one whose lease ran out. None if taken."""
    now = utcnow()
    claimable = or_(Job.status == JobStatus.QUEUED, lease_expired(lease_seconds))
    claimed = compare_and_set(
        session,
        job_id,
        claimable,
        Job.cancel_requested.is_(False),
        # A job handed to speech recognition has its media stored: never downloaded again.
        not_transcribing(),
        status=JobStatus.PROCESSING,
        stage=JobStage.EXTRACTING,
        worker_id=worker_id,
        heartbeat_at=now,
        attempts=Job.attempts + 1,
        started_at=func.coalesce(Job.started_at, now),
        waiting_reason=None,
        next_attempt_at=None,
    )
    if not claimed:
        return None
    job = session.get_one(Job, job_id, populate_existing=True)
    return ClaimedJob(
        id=job.id,
        url=job.url,
        options=job.options,
        attempts=job.attempts,
        progress=job.progress,
        started_at=job.started_at or now,
        retries=job.retries,
        kind=job.kind,
        api_key_id=job.api_key_id,
        parent_id=job.parent_id,
        collection=job.collection,
        last_error=JobError.of(job.error_code, job.error_message),
        intact_keys=frozenset(f.storage_key for f in job.files if not f.state.is_damaged),
        priority=job.priority,
    )


def held_by(worker_id: str) -> ColumnElement[bool]:
    """The job is processing under this worker's lease."""
    return and_(Job.worker_id == worker_id, Job.status == JobStatus.PROCESSING)


def lease_expired(lease_seconds: int) -> ColumnElement[bool]:
    """The job is processing, but its worker stopped renewing the lease (it died)."""
    stale = utcnow() - dt.timedelta(seconds=lease_seconds)
    return and_(Job.status == JobStatus.PROCESSING, Job.heartbeat_at < stale)


def renew_lease(
    session: Session, job_id: uuid.UUID, *, worker_id: str, progress: dict[str, Any]
) -> LeaseState:
    """Heartbeat plus the latest progress; also tells the worker whether to stop."""
    if not compare_and_set(session, job_id, held_by(worker_id), heartbeat_at=utcnow(), **progress):
        return LeaseState(owned=False, cancel_requested=False)
    cancel, pause = session.execute(
        select(Job.cancel_requested, Job.pause_requested).where(Job.id == job_id)
    ).one()
    return LeaseState(owned=True, cancel_requested=bool(cancel), pause_requested=bool(pause))


def record_metadata(
    session: Session, job_id: uuid.UUID, *, worker_id: str, fields: dict[str, Any]
) -> bool:
    return compare_and_set(session, job_id, held_by(worker_id), **fields)


def request_cancel(session: Session, job_id: uuid.UUID) -> None:
    compare_and_set(session, job_id, Job.status == JobStatus.PROCESSING, cancel_requested=True)


def pausing_values() -> dict[str, Any]:
    """What a job becomes when it pauses: no worker, no run, its progress and work
    directory kept."""
    return {
        "status": JobStatus.PAUSED,
        "stage": None,
        "worker_id": None,
        "heartbeat_at": None,
        "speed": None,
        "eta": None,
        "pause_requested": False,
        "waiting_reason": None,
        "next_attempt_at": None,
        "paused_at": utcnow(),
    }


def not_transcribing() -> ColumnElement[bool]:
    """A job that downloads (or waits to): not one handed to speech recognition."""
    return or_(Job.stage.is_(None), Job.stage != JobStage.TRANSCRIBING)


def pause_waiting(session: Session, job_id: uuid.UUID, *, lease_seconds: int) -> bool:
    """Pause a job no worker runs now: queued, or processing under a worker that died
    (its message, if any, then finds it not claimable)."""
    waiting = or_(Job.status == JobStatus.QUEUED, lease_expired(lease_seconds))
    return compare_and_set(session, job_id, waiting, not_transcribing(), **pausing_values())


def request_pause(session: Session, job_id: uuid.UUID) -> bool:
    """Ask the worker running the job to pause it at its next heartbeat (while it still
    downloads: one storing its files, or transcribing, finishes)."""
    still_downloading = or_(
        Job.stage.is_(None), Job.stage.not_in((JobStage.UPLOADING, JobStage.TRANSCRIBING))
    )
    return compare_and_set(
        session,
        job_id,
        Job.status == JobStatus.PROCESSING,
        Job.worker_id.is_not(None),
        still_downloading,
        pause_requested=True,
    )


def pause_held(session: Session, job_id: uuid.UUID, *, worker_id: str) -> bool:
    """The worker stopped the job its owner paused; the interrupted run is no attempt."""
    return compare_and_set(
        session, job_id, held_by(worker_id), **pausing_values(), attempts=Job.attempts - 1
    )


def pause_abandoned(session: Session, job_id: uuid.UUID, *, lease_seconds: int) -> bool:
    """A job asked to pause whose worker died before it could: paused now."""
    return compare_and_set(
        session,
        job_id,
        lease_expired(lease_seconds),
        Job.pause_requested.is_(True),
        **pausing_values(),
    )


def resume(session: Session, job_id: uuid.UUID, *, held: bool) -> bool:
    """Queue a paused job again; `held` (a family's entry) waits for its parent's settle.
    Its progress and work directory are kept: the run continues the partial files."""
    return compare_and_set(
        session,
        job_id,
        Job.status == JobStatus.PAUSED,
        status=JobStatus.QUEUED,
        paused_at=None,
        pause_requested=False,
        dispatched_at=None if held else utcnow(),
    )


def withdraw_pause(session: Session, job_id: uuid.UUID) -> bool:
    """Forget a pause the running job's worker has not acted on yet."""
    return compare_and_set(
        session, job_id, Job.status == JobStatus.PROCESSING, Job.pause_requested.is_(True),
        pause_requested=False,
    )  # fmt: skip


def paused_before(session: Session, cutoff: dt.datetime, *, limit: int = 200) -> list[Job]:
    """Jobs paused before `cutoff`, the oldest first."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.status == JobStatus.PAUSED, Job.paused_at < cutoff)
            .order_by(Job.paused_at)
            .limit(limit)
        )
    )


def family_pausing(session: Session, parent_id: uuid.UUID) -> bool:
    """Whether one of the parent's entries is paused, or running with a pause asked of it."""
    pausing = or_(
        Job.status == JobStatus.PAUSED,
        and_(Job.status == JobStatus.PROCESSING, Job.pause_requested.is_(True)),
    )
    found = select(Job.id).where(Job.parent_id == parent_id, pausing).limit(1)
    return session.scalar(found) is not None


def retry_values(*, held: bool = False) -> dict[str, Any]:
    """What a retried job starts from; `held` children wait for their parent to dispatch them."""
    now = utcnow()
    return {
        "status": JobStatus.QUEUED,
        "stage": None,
        "progress": 0.0,
        "downloaded_bytes": None,
        "total_bytes": None,
        "speed": None,
        "eta": None,
        "error_code": None,
        "error_message": None,
        "cancel_requested": False,
        "pause_requested": False,
        "paused_at": None,
        "worker_id": None,
        "heartbeat_at": None,
        "attempts": 0,
        "retries": 0,
        "next_attempt_at": None,
        "waiting_reason": None,
        "started_at": None,
        "completed_at": None,
        "dispatched_at": None if held else now,
        "updated_at": now,
    }


def reset_for_retry(session: Session, job_id: uuid.UUID) -> bool:
    """Queue a failed or canceled job again, or a completed one with damaged files. The
    files it lists stay: the run stores again only those that are not intact."""
    damaged = exists().where(JobFile.job_id == Job.id, JobFile.state != FileState.OK)
    retryable = or_(
        Job.status.in_([JobStatus.FAILED, JobStatus.CANCELED]),
        and_(Job.status == JobStatus.COMPLETED, damaged),
    )
    return compare_and_set(session, job_id, retryable, **retry_values())


def delete_job(session: Session, job_id: uuid.UUID) -> None:
    """The job, its descendants (of a playlist, channel or batch) and everything they own."""
    ids = family_ids(session, job_id)
    remove_entries(session, ids)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.job_id.in_(ids)))
    session.execute(delete(JobFile).where(JobFile.job_id.in_(ids)))
    for each in reversed(ids):  # children before their parents
        session.execute(delete(Job).where(Job.id == each))


def find_stuck_jobs(
    session: Session, *, lease_seconds: int, dispatched_before: dt.datetime, limit: int = 1000
) -> list[StuckJob]:
    """Queued jobs due and dispatched before `dispatched_before`, and processing jobs whose
    lease ran out."""
    now = utcnow()
    due = or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now)
    rows = session.execute(
        select(
            Job.id,
            Job.status,
            Job.attempts,
            Job.cancel_requested,
            Job.error_code,
            Job.error_message,
            Job.stage,
            Job.worker_id,
            Job.pause_requested,
            Job.priority,
        )
        .where(
            or_(
                and_(Job.status == JobStatus.QUEUED, Job.dispatched_at < dispatched_before, due),
                lease_expired(lease_seconds),
            )
        )
        .order_by(Job.created_at)
        .limit(limit)
    ).all()
    return [
        StuckJob(
            row.id,
            row.status,
            row.attempts,
            row.cancel_requested,
            JobError.of(row.error_code, row.error_message),
            stage=row.stage,
            claimed=row.worker_id is not None,
            pause_requested=row.pause_requested,
            priority=row.priority,
        )
        for row in rows
    ]


def raise_waiting(session: Session, *, due_before: dt.datetime, limit: int = 500) -> list[Raised]:
    """Raise one priority step each queued job whose message has been due since before
    `due_before` (its last dispatch and any put-off both earlier): the jobs raised, with
    their new priority. A held entry (no message yet) waits for its parent, not a queue."""
    rows = session.execute(
        select(Job.id, Job.priority, Job.progress, Job.parent_id, Job.waiting_reason)
        .where(
            Job.status == JobStatus.QUEUED,
            Job.priority != Priority.HIGH,
            Job.dispatched_at < due_before,
            or_(Job.next_attempt_at.is_(None), Job.next_attempt_at < due_before),
        )
        .order_by(Job.created_at)
        .limit(limit)
    ).all()
    raised = []
    for row in rows:
        higher = row.priority.raised
        if compare_and_set(
            session,
            row.id,
            Job.status == JobStatus.QUEUED,
            Job.priority == row.priority,
            priority=higher,
            dispatched_at=utcnow(),
        ):
            raised.append(Raised(row.id, higher, row.progress, row.parent_id, row.waiting_reason))
    return raised


def mark_dispatched(session: Session, job_id: uuid.UUID) -> None:
    compare_and_set(session, job_id, dispatched_at=utcnow())


def find_expired(
    session: Session, *, cutoff: dt.datetime, limit: int = 200
) -> list[tuple[uuid.UUID, list[str]]]:
    """Completed jobs finished before `cutoff`, with the storage keys of their files."""
    jobs = session.scalars(
        select(Job)
        .where(Job.status == JobStatus.COMPLETED, Job.completed_at < cutoff)
        .order_by(Job.completed_at)
        .limit(limit)
    ).all()
    return [(job.id, [f.storage_key for f in job.files]) for job in jobs]


def completed_files(
    session: Session, job_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, list[str]]]:
    """Which of `job_ids` are completed, with the storage keys of their files."""
    jobs = session.scalars(
        select(Job).where(Job.id.in_(job_ids), Job.status == JobStatus.COMPLETED)
    ).all()
    return [(job.id, [f.storage_key for f in job.files]) for job in jobs]


def live_job_ids(
    session: Session, job_ids: Sequence[uuid.UUID], *, lease_seconds: int
) -> set[uuid.UUID]:
    """Which of `job_ids` are processing with a live lease, or paused (their work dirs are
    in use, or hold the partial files a resume continues)."""
    fresh = utcnow() - dt.timedelta(seconds=lease_seconds)
    rows = session.scalars(
        select(Job.id).where(
            Job.id.in_(job_ids),
            or_(
                and_(Job.status == JobStatus.PROCESSING, Job.heartbeat_at >= fresh),
                Job.status == JobStatus.PAUSED,
            ),
        )
    )
    return set(rows)


# Runs on every accepted download: written once as SQL and run on the connection, it costs
# a fraction of the ORM query it replaces (no statement to build, compile or look up).
_SUBMISSION_COUNTS = text(
    """
    SELECT
      (SELECT count(*) FROM (
        SELECT 1 FROM jobs WHERE api_key_id = :api_key_id AND parent_id IS NULL
          AND status IN (:queued, :processing, :paused)
        LIMIT :active_cap) AS active),
      (SELECT count(*) FROM (
        SELECT 1 FROM jobs WHERE api_key_id = :api_key_id AND parent_id IS NULL
          AND created_at >= :since
        LIMIT :created_cap) AS created)
    """
).bindparams(bindparam("api_key_id", type_=Uuid()), bindparam("since", type_=UTCDateTime()))


def submission_counts(
    session: Session,
    api_key_id: uuid.UUID,
    *,
    since: dt.datetime,
    active_cap: int,
    created_cap: int,
) -> tuple[int, int]:
    """A key's queued, processing and paused submissions (a playlist counts once, not per entry),
    and those created since `since`: one query, each count stopping at its cap (the quota
    it is checked against), read from the submissions' indexes alone."""
    params = {
        "api_key_id": api_key_id,
        "queued": JobStatus.QUEUED.value,
        "processing": JobStatus.PROCESSING.value,
        "paused": JobStatus.PAUSED.value,
        "since": since,
        "active_cap": active_cap,
        "created_cap": created_cap,
    }
    active, created = session.connection().execute(_SUBMISSION_COUNTS, params).one()
    return int(active), int(created)


_RESET_RUN = {
    "status": JobStatus.QUEUED,
    "stage": None,
    "worker_id": None,
    "heartbeat_at": None,
    "speed": None,
    "eta": None,
}


def release_job(session: Session, job_id: uuid.UUID, *, worker_id: str) -> bool:
    """Hand an owned job back to the queue (a worker shutting down); it keeps its progress
    and its work directory, and the interrupted run does not count as an attempt."""
    return compare_and_set(
        session,
        job_id,
        held_by(worker_id),
        **_RESET_RUN,
        attempts=Job.attempts - 1,
        dispatched_at=utcnow(),
    )


def schedule_retry(
    session: Session, job_id: uuid.UUID, *, worker_id: str, due: dt.datetime, error: JobError
) -> bool:
    """Queue an owned job again after a transient failure, to run no earlier than `due`.
    The run counts as a retry, not as an attempt: attempts count the runs whose worker was
    lost, and a run that ended in a failure it could report was not lost."""
    return compare_and_set(
        session,
        job_id,
        held_by(worker_id),
        **_RESET_RUN,
        attempts=Job.attempts - 1,
        retries=Job.retries + 1,
        next_attempt_at=due,
        waiting_reason=WaitingReason.RETRY_BACKOFF,
        error_code=error.code,
        error_message=error.message,
        dispatched_at=utcnow(),
    )


def put_off(
    session: Session, job_id: uuid.UUID, *, reason: WaitingReason, until: dt.datetime
) -> PutOff | None:
    """Note on a queued job why a worker did not take it and when it comes back (None when
    the job is not queued: a redelivered message of a running or ended job)."""
    if not compare_and_set(
        session,
        job_id,
        Job.status == JobStatus.QUEUED,
        waiting_reason=reason,
        next_attempt_at=until,
    ):
        return None
    row = session.execute(
        select(Job.progress, Job.parent_id, Job.priority).where(Job.id == job_id)
    ).one()
    return PutOff(progress=row.progress, parent_id=row.parent_id, priority=row.priority)


def get_url(session: Session, job_id: uuid.UUID) -> str | None:
    return session.scalar(select(Job.url).where(Job.id == job_id))


def transcribing() -> ColumnElement[bool]:
    return and_(Job.status == JobStatus.PROCESSING, Job.stage == JobStage.TRANSCRIBING)


def hand_over_for_transcription(
    session: Session,
    job_id: uuid.UUID,
    *,
    worker_id: str,
    files: Sequence[JobFile],
    fields: dict[str, Any],
) -> bool:
    """The download's end when speech recognition follows: its files are recorded now (the
    media is safe whatever happens to the recognition) and the job waits, still
    processing, for a transcription worker. Its attempts count that worker's runs."""
    now = utcnow()
    if not compare_and_set(
        session,
        job_id,
        held_by(worker_id),
        stage=JobStage.TRANSCRIBING,
        worker_id=None,
        heartbeat_at=now,
        dispatched_at=now,
        attempts=0,
        speed=None,
        eta=None,
        **fields,
    ):
        return False
    add_files(session, job_id, files)
    return True


def claim_transcription(
    session: Session, job_id: uuid.UUID, *, worker_id: str, lease_seconds: int
) -> ClaimedTranscription | None:
    """Compare-and-set: take a job waiting for recognition (handed over, or whose
    recognition worker died). None when taken, ended or not transcribing."""
    waiting = or_(Job.worker_id.is_(None), Job.heartbeat_at < _stale(lease_seconds))
    if not compare_and_set(
        session,
        job_id,
        transcribing(),
        waiting,
        worker_id=worker_id,
        heartbeat_at=utcnow(),
        attempts=Job.attempts + 1,
    ):
        return None
    job = session.get_one(Job, job_id, populate_existing=True)
    return ClaimedTranscription(
        id=job.id,
        attempts=job.attempts,
        progress=job.progress,
        started_at=job.started_at or utcnow(),
        video_id=job.video_id or "video",
        title=job.title,
        url=job.url,
        options=job.options,
        parent_id=job.parent_id,
        downloaded_bytes=job.downloaded_bytes or 0,
        stored_bytes=sum(f.size for f in job.files),
    )


def release_transcription(session: Session, job_id: uuid.UUID, *, worker_id: str) -> bool:
    """Give a recognition back for another worker (this one shuts down); not an attempt."""
    return compare_and_set(
        session,
        job_id,
        held_by(worker_id),
        worker_id=None,
        heartbeat_at=utcnow(),
        dispatched_at=utcnow(),
        attempts=Job.attempts - 1,
    )


def requeue_transcription(session: Session, job_id: uuid.UUID, *, lease_seconds: int) -> bool:
    """A recognition whose message or worker was lost waits for a new message."""
    stale = and_(transcribing(), Job.heartbeat_at < _stale(lease_seconds))
    return compare_and_set(
        session, job_id, stale, worker_id=None, heartbeat_at=utcnow(), dispatched_at=utcnow()
    )


def transcript_details(session: Session, job_id: uuid.UUID) -> dict[str, Any]:
    """The job's details (where its transcript summary is)."""
    return dict(session.scalar(select(Job.details).where(Job.id == job_id)) or {})


def _stale(lease_seconds: int) -> dt.datetime:
    return utcnow() - dt.timedelta(seconds=lease_seconds)


@dataclass(frozen=True)
class FailureScope:
    """A key's failed or canceled jobs: its submissions, or (`parent_id`) a family's entries,
    narrowed by status, failure code (as `failure_code` names it) and creation time."""

    api_key_id: uuid.UUID
    parent_id: uuid.UUID | None = None
    statuses: Sequence[JobStatus] = (JobStatus.FAILED, JobStatus.CANCELED)
    codes: Sequence[str] | None = None
    since: dt.datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        parent = self.parent_id
        conditions = [
            Job.api_key_id == self.api_key_id,
            Job.parent_id == parent if parent is not None else Job.parent_id.is_(None),
            Job.status.in_(list(self.statuses)),
        ]
        if self.codes is not None:
            conditions.append(or_(*(code_is(code) for code in self.codes)))
        if self.since is not None:
            conditions.append(Job.created_at >= self.since)
        return conditions


def failure_code(status: JobStatus, error_code: str | None) -> str:
    """The code a failure is grouped under: a canceled job's is `canceled` (whatever it
    was waiting on), a failed job without one `unknown`."""
    if status is JobStatus.CANCELED:
        return CANCELED_CODE
    return error_code or UNKNOWN_CODE


def code_is(code: str) -> ColumnElement[bool]:
    """The jobs `failure_code` names `code`, as a condition (plain columns, so an index on
    the status helps and no expression is grouped on)."""
    if code == CANCELED_CODE:
        return Job.status == JobStatus.CANCELED
    failed = Job.status == JobStatus.FAILED
    if code == UNKNOWN_CODE:
        return and_(failed, Job.error_code.is_(None))
    return and_(failed, Job.error_code == code)


def matching_failures(session: Session, scope: FailureScope, *, limit: int) -> Sequence[Job]:
    """Up to `limit` jobs of the scope, the oldest first (a bulk retry works through them
    in the order they were submitted)."""
    return session.scalars(
        select(Job).where(*scope.where()).order_by(Job.created_at, Job.id).limit(limit)
    ).all()


@dataclass(frozen=True)
class FailureRow:
    code: str
    count: int
    job_id: uuid.UUID
    url: str
    title: str | None
    message: str | None
    at: dt.datetime


def failure_groups(session: Session, scope: FailureScope) -> list[FailureRow]:
    """The scope's jobs by failure code, most frequent first, each with its newest job."""
    counts: dict[str, int] = {}
    for status, error_code, count in session.execute(
        select(Job.status, Job.error_code, func.count())
        .where(*scope.where())
        .group_by(Job.status, Job.error_code)
    ).all():
        code = failure_code(JobStatus(status), error_code)
        counts[code] = counts.get(code, 0) + int(count)
    ended = func.coalesce(Job.completed_at, Job.updated_at)
    rows = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        newest = session.execute(
            select(Job.id, Job.url, Job.title, Job.error_message, ended)
            .where(*scope.where(), code_is(code))
            .order_by(ended.desc(), Job.id)
            .limit(1)
        ).one()
        rows.append(FailureRow(code, count, newest[0], newest[1], newest[2], newest[3], newest[4]))
    return rows
