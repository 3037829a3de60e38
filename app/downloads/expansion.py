"""A playlist or channel becomes its entries: the worker lists them with yt-dlp's flat
extraction (`engine.playlists`) and records them as the parent's children in one
transaction; an entry whose exact upload date falls outside the window is dropped later."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.downloads.engine.playlists import Entry, expand
from app.downloads.families import NewChild, add_children, settle_parent
from app.downloads.repository import ClaimedJob, held_by
from app.downloads.schemas import DateWindow
from app.jobs.models import Job, JobKind, JobStage, JobStatus
from app.jobs.repository import compare_and_set, update_jobs
from app.metrics import definitions as m
from app.metrics.service import Increments
from app.worker.context import WorkerContext, run_db
from app.youtube.routes import Route

logger = logging.getLogger(__name__)

_CHUNK = 500


@dataclass(frozen=True)
class Selection:
    """What an entry selector keeps of a listing: the entries to become children, notes
    for the parent's skipped list, and what to write in the expansion's own transaction."""

    entries: list[Entry]
    skipped: list[dict[str, Any]]
    record: Callable[[Session, Sequence[NewChild]], None] | None = None


EntrySelector = Callable[[WorkerContext, ClaimedJob, list[Entry]], Selection]
# Parents of these kinds choose their children themselves (a subscription's check keeps only
# what it has not seen); registered by the package that owns the kind, at import.
ENTRY_SELECTORS: dict[JobKind, EntrySelector] = {}


def expand_parent(
    ctx: WorkerContext,
    claimed: ClaimedJob,
    *,
    worker_id: str,
    check_stop: Callable[[], None],
    route: Route | None = None,
) -> bool:
    """Create the parent's children; False when another worker owns the parent now."""
    collection = claimed.collection or {}
    window = DateWindow.from_json(collection)
    expansion = expand(
        claimed.url,
        settings=ctx.settings,
        playlist_items=collection.get("playlist_items"),
        max_items=collection.get("max_items") or ctx.settings.max_playlist_items,
        window=window,
        check_stop=check_stop,
        newest_first=claimed.kind is JobKind.CHANNEL or bool(collection.get("newest_first")),
        route=route,
    )
    skipped = [_skipped(entry, "outside_date_range") for entry in expansion.outside_dates]
    entries = expansion.entries
    if collection.get("skip_existing") and claimed.api_key_id is not None:
        existing = run_db(
            ctx,
            completed_videos,
            claimed.api_key_id,
            [entry.video_id for entry in entries],
            claimed.options,
        )
        skipped += [
            _skipped(entry, "already_downloaded", job_id=existing[entry.video_id])
            for entry in entries
            if entry.video_id in existing
        ]
        entries = [entry for entry in entries if entry.video_id not in existing]
    selector = ENTRY_SELECTORS.get(claimed.kind)
    also: Callable[[Session, Sequence[NewChild]], None] | None = None
    if selector is not None:
        selection = selector(ctx, claimed, entries)
        entries, also = selection.entries, selection.record
        skipped += selection.skipped
    check_stop()
    children = [
        NewChild(
            position=entry.position,
            url=entry.url,
            video_id=entry.video_id,
            title=entry.title,
            duration=entry.duration,
            collection=window.to_json(),
        )
        for entry in entries
    ]
    fields = {
        "title": expansion.title,
        "channel_name": expansion.channel,
        "details": {"playlist_id": expansion.playlist_id, "skipped": skipped},
    }
    recorded = run_db(
        ctx,
        record_expansion,
        claimed.id,
        worker_id=worker_id,
        children=children,
        fields=fields,
        also=also,
    )
    if recorded:
        logger.info(
            "job %s expanded into %d entries (%d skipped)", claimed.id, len(children), len(skipped)
        )
        _count(ctx, m.JOBS_CREATED, len(children))
        settle_parent(ctx, claimed.id)
    return bool(recorded)


def _skipped(entry: Entry, reason: str, *, job_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "position": entry.position,
        "video_id": entry.video_id,
        "title": entry.title,
        "reason": reason,
        "job_id": str(job_id) if job_id else None,
    }


def drop_outside_window(
    ctx: WorkerContext, claimed: ClaimedJob, *, worker_id: str, upload_date: str
) -> None:
    """The child's exact upload date is outside its parent's dates: it is no entry after all."""
    skipped = {"reason": "outside_date_range", "job_id": None, "upload_date": upload_date}
    parent_id = run_db(ctx, drop_child, claimed.id, worker_id=worker_id, skipped=skipped)
    if parent_id is not None:
        logger.info("job %s uploaded %s, outside its parent's dates; dropped", claimed.id,
                    upload_date)  # fmt: skip
        _count(ctx, m.JOBS_DROPPED, 1)
        settle_parent(ctx, parent_id)


def _count(ctx: WorkerContext, series: m.Series, amount: int) -> None:
    """Entries are jobs the worker creates (or removes), after the commit: `/metrics` counts
    every job created, so that created = ended + dropped + queued + processing."""
    increments = Increments()
    increments.count(series, amount=amount)
    increments.flush(ctx.redis)


def record_expansion(
    session: Session,
    parent_id: uuid.UUID,
    *,
    worker_id: str,
    children: Sequence[NewChild],
    fields: dict[str, Any],
    also: Callable[[Session, Sequence[NewChild]], None] | None = None,
) -> bool:
    """Insert the children and release the parent's lease in one transaction: from here on
    the parent is expanded and settles as its children end. `also` writes what must be
    true with them (a subscription's archive)."""
    released = compare_and_set(
        session,
        parent_id,
        held_by(worker_id),
        worker_id=None,
        heartbeat_at=None,
        stage=JobStage.DOWNLOADING,
        progress=0.0,
        **fields,
    )
    if not released:
        return False
    parent = session.execute(
        select(Job.api_key_id, Job.options, Job.priority).where(Job.id == parent_id)
    ).one()
    add_children(session, parent_id, parent.api_key_id, parent.options, children, parent.priority)
    if also is not None:
        also(session, children)
    return True


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


def drop_child(
    session: Session, child_id: uuid.UUID, *, worker_id: str, skipped: dict[str, Any]
) -> uuid.UUID | None:
    """Remove a child that turned out not to belong (outside the date window) and note it
    on its parent as skipped, under the entry's place, id and title from the listing (the
    row is gone afterwards, so the note is all a client can see of the entry). Returns the
    parent's id, None when the lease was lost."""
    child = session.execute(
        select(Job.parent_id, Job.position, Job.video_id, Job.title).where(
            Job.id == child_id, held_by(worker_id)
        )
    ).one_or_none()
    if child is None or child.parent_id is None:
        return None
    parent_id: uuid.UUID = child.parent_id
    entry = {"position": child.position, "video_id": child.video_id, "title": child.title}
    update_jobs(session, Job.id == parent_id)  # lock the parent first, as settle does
    details = dict(session.scalar(select(Job.details).where(Job.id == parent_id)) or {})
    details["skipped"] = [*details.get("skipped", []), {**entry, **skipped}]
    update_jobs(session, Job.id == parent_id, details=details)
    session.execute(delete(Job).where(Job.id == child_id))
    return parent_id
