"""Queries of the subscriptions domain on a sync Session: workers call them directly, the API
through `run_sync`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.database import changed_rows, utcnow
from app.jobs.models import TERMINAL_STATUSES, Job, JobStatus
from app.subscriptions.models import EntryStatus, Subscription, SubscriptionVideo

_CHUNK = 500


@dataclass(frozen=True)
class Archived:
    status: EntryStatus
    attempts: int


def get_owned(
    session: Session, subscription_id: uuid.UUID, api_key_id: uuid.UUID
) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.id == subscription_id, Subscription.api_key_id == api_key_id
        )
    )


def get(session: Session, subscription_id: uuid.UUID) -> Subscription | None:
    return session.get(Subscription, subscription_id)


def lock(session: Session, subscription_id: uuid.UUID) -> Subscription | None:
    """The subscription, its row locked against a delete until the transaction ends
    (FOR KEY SHARE on PostgreSQL; SQLite's one writer needs no lock)."""
    return session.scalar(
        select(Subscription)
        .where(Subscription.id == subscription_id)
        .with_for_update(key_share=True)
    )


def list_owned(
    session: Session, api_key_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Subscription], int]:
    owned = Subscription.api_key_id == api_key_id
    total = session.scalar(select(func.count()).select_from(Subscription).where(owned)) or 0
    rows = session.scalars(
        select(Subscription)
        .where(owned)
        .order_by(Subscription.created_at.desc(), Subscription.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def entry_counts(
    session: Session, subscription_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Per subscription: every video seen, and how many are downloaded, failed, pending."""
    counts: dict[uuid.UUID, dict[str, int]] = {
        sub_id: {"seen": 0, "downloaded": 0, "failed": 0, "pending": 0}
        for sub_id in subscription_ids
    }
    if not subscription_ids:
        return counts
    status = SubscriptionVideo.status
    rows = session.execute(
        select(
            SubscriptionVideo.subscription_id,
            func.count(),
            func.sum(case((status == EntryStatus.DOWNLOADED, 1), else_=0)),
            func.sum(case((status == EntryStatus.FAILED, 1), else_=0)),
            func.sum(case((status == EntryStatus.QUEUED, 1), else_=0)),
        )
        .where(SubscriptionVideo.subscription_id.in_(subscription_ids))
        .group_by(SubscriptionVideo.subscription_id)
    ).all()
    for sub_id, seen, downloaded, failed, pending in rows:
        counts[sub_id] = {
            "seen": seen,
            "downloaded": int(downloaded or 0),
            "failed": int(failed or 0),
            "pending": int(pending or 0),
        }
    return counts


def archived(
    session: Session, subscription_id: uuid.UUID, video_ids: Sequence[str]
) -> dict[str, Archived]:
    found: dict[str, Archived] = {}
    for start in range(0, len(video_ids), _CHUNK):
        rows = session.execute(
            select(
                SubscriptionVideo.video_id, SubscriptionVideo.status, SubscriptionVideo.attempts
            ).where(
                SubscriptionVideo.subscription_id == subscription_id,
                SubscriptionVideo.video_id.in_(video_ids[start : start + _CHUNK]),
            )
        ).all()
        found.update({row.video_id: Archived(row.status, row.attempts) for row in rows})
    return found


@dataclass(frozen=True)
class ArchiveEntry:
    video_id: str
    status: EntryStatus
    title: str | None
    job_id: uuid.UUID | None = None
    upload_date: str | None = None


def record_entries(
    session: Session, subscription_id: uuid.UUID, entries: Iterable[ArchiveEntry]
) -> None:
    """Add the entries to the archive; one already there (a failed one tried again) gets
    its new job and one more attempt."""
    wanted = {entry.video_id: entry for entry in entries}
    known = archived(session, subscription_id, list(wanted))
    now = utcnow()
    for video_id, entry in wanted.items():
        attempt = 1 if entry.status is EntryStatus.QUEUED else 0
        if video_id in known:
            session.execute(
                update(SubscriptionVideo)
                .where(
                    SubscriptionVideo.subscription_id == subscription_id,
                    SubscriptionVideo.video_id == video_id,
                )
                .values(
                    status=entry.status,
                    job_id=entry.job_id,
                    attempts=SubscriptionVideo.attempts + attempt,
                )
            )
            continue
        session.add(
            SubscriptionVideo(
                subscription_id=subscription_id,
                video_id=video_id,
                job_id=entry.job_id,
                status=entry.status,
                attempts=attempt,
                title=entry.title,
                upload_date=entry.upload_date,
                first_seen_at=now,
            )
        )
    session.flush()


def settle_archive(session: Session, subscription_id: uuid.UUID, check_job_id: uuid.UUID) -> None:
    """The entries of an ended check take their jobs' outcome: downloaded (completed, or
    expired since), failed (failed or canceled), or skipped (the job was dropped, its exact
    upload date outside the filter, or deleted). A check's family retried by hand ends
    again, and its entries follow."""
    of_check = select(Job.id).where(Job.parent_id == check_job_id)
    rows = session.execute(
        select(SubscriptionVideo.id, Job.status, Job.upload_date)
        .outerjoin(Job, Job.id == SubscriptionVideo.job_id)
        .where(
            SubscriptionVideo.subscription_id == subscription_id,
            or_(
                SubscriptionVideo.status == EntryStatus.QUEUED,
                SubscriptionVideo.job_id.in_(of_check),
            ),
        )
    ).all()
    now = utcnow()
    for row in rows:
        status = _entry_status(row.status)
        if status is None:
            continue
        values: dict[str, Any] = {"status": status}
        if status is EntryStatus.DOWNLOADED:
            values |= {"downloaded_at": now, "upload_date": row.upload_date}
        session.execute(
            update(SubscriptionVideo).where(SubscriptionVideo.id == row.id).values(**values)
        )


def _entry_status(job_status: JobStatus | None) -> EntryStatus | None:
    if job_status is None:
        return EntryStatus.SKIPPED
    if job_status in (JobStatus.COMPLETED, JobStatus.EXPIRED):
        return EntryStatus.DOWNLOADED
    if job_status in (JobStatus.FAILED, JobStatus.CANCELED):
        return EntryStatus.FAILED
    return None


def _idle() -> ColumnElement[bool]:
    """No check runs: none recorded, or the recorded one has ended (its hook missed)."""
    ended = select(Job.id).where(Job.status.in_(TERMINAL_STATUSES))
    return or_(Subscription.checking_job_id.is_(None), Subscription.checking_job_id.in_(ended))


def claim_check(
    session: Session, subscription_id: uuid.UUID, job_id: uuid.UUID, *, next_check_at: dt.datetime
) -> bool:
    """The compare-and-set that makes `job_id` the subscription's one running check."""
    return bool(
        changed_rows(
            session,
            update(Subscription)
            .where(Subscription.id == subscription_id, _idle())
            .values(
                checking_job_id=job_id,
                last_check_job_id=job_id,
                last_check_at=utcnow(),
                next_check_at=next_check_at,
            ),
        )
    )


def checking_job(session: Session, subscription_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(
        select(Subscription.checking_job_id).where(Subscription.id == subscription_id)
    )


def due(session: Session, *, now: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Unpaused subscriptions whose next check is due, the longest overdue first."""
    return list(
        session.scalars(
            select(Subscription.id)
            .where(
                Subscription.paused.is_(False),
                Subscription.next_check_at <= now,
                _idle(),
            )
            .order_by(Subscription.next_check_at)
            .limit(limit)
        )
    )


def end_check(
    session: Session,
    subscription_id: uuid.UUID,
    check_job_id: uuid.UUID,
    *,
    error_code: str | None,
    error_message: str | None,
) -> bool:
    """Free the subscription if this was its running check, and record the error of its
    latest check (or clear it). False when the subscription is gone."""
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.checking_job_id == check_job_id)
        .values(checking_job_id=None)
    )
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.last_check_job_id == check_job_id)
        .values(last_error_code=error_code, last_error_message=error_message)
    )
    return session.get(Subscription, subscription_id) is not None


def beyond_keep_last(session: Session) -> list[uuid.UUID]:
    """The completed downloads of subscriptions with `keep_last` older than their newest
    `keep_last` (by upload date, then when they were downloaded)."""
    kept = session.execute(
        select(Subscription.id, Subscription.keep_last).where(Subscription.keep_last.is_not(None))
    ).all()
    beyond: list[uuid.UUID] = []
    for subscription_id, keep_last in kept:
        rows = session.scalars(
            select(SubscriptionVideo.job_id)
            .join(Job, Job.id == SubscriptionVideo.job_id)
            .where(
                SubscriptionVideo.subscription_id == subscription_id,
                SubscriptionVideo.status == EntryStatus.DOWNLOADED,
                Job.status == JobStatus.COMPLETED,
            )
            .order_by(SubscriptionVideo.upload_date.desc(), SubscriptionVideo.downloaded_at.desc())
            .offset(keep_last)
        )
        beyond += [job_id for job_id in rows if job_id is not None]
    return beyond
