"""Worker side of parent jobs: expand a playlist or channel into children, dispatch them up
to the concurrency cap, and end the parent when its last child ends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from app.core.database import utcnow
from app.downloads.context import WorkerContext, run_db
from app.downloads.models import JobKind, JobStage, JobStatus
from app.downloads.repository import ClaimedJob
from app.playlists import repository
from app.playlists.expansion import Entry, expand
from app.playlists.repository import NewChild
from app.playlists.schemas import DateWindow
from app.progress import publisher
from app.progress.schemas import ProgressEvent, status_event
from app.webhooks.notify import notify_job_ended

logger = logging.getLogger(__name__)


def expand_parent(
    ctx: WorkerContext, claimed: ClaimedJob, *, worker_id: str, check_stop: Callable[[], None]
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
        newest_first=claimed.kind is JobKind.CHANNEL,
    )
    skipped = [_skipped(entry, "outside_date_range") for entry in expansion.outside_dates]
    entries = expansion.entries
    if collection.get("skip_existing") and claimed.api_key_id is not None:
        existing = run_db(
            ctx,
            repository.completed_videos,
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
    check_stop()
    children = [
        NewChild(
            position=entry.position,
            url=entry.url,
            video_id=entry.video_id,
            title=entry.title,
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
        repository.record_expansion,
        claimed.id,
        worker_id=worker_id,
        children=children,
        fields=fields,
    )
    if recorded:
        logger.info(
            "job %s expanded into %d entries (%d skipped)", claimed.id, len(children), len(skipped)
        )
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
    skipped = {
        "position": None,
        "video_id": None,
        "title": None,
        "reason": "outside_date_range",
        "job_id": None,
        "upload_date": upload_date,
    }
    parent_id = run_db(ctx, repository.drop_child, claimed.id, worker_id=worker_id, skipped=skipped)
    if parent_id is not None:
        logger.info("job %s uploaded %s, outside its parent's dates; dropped", claimed.id,
                    upload_date)  # fmt: skip
        settle_parent(ctx, parent_id)


def job_ended(
    ctx: WorkerContext, job_id: uuid.UUID, *, parent_id: uuid.UUID | None, has_webhook: bool
) -> None:
    """After the commit that ended a job: notify its webhook, settle its parent."""
    if has_webhook:
        try:
            notify_job_ended(job_id)
        except Exception:
            # The periodic sweep sends what could not be queued now.
            logger.exception("could not queue the webhook of job %s", job_id)
    if parent_id is not None:
        settle_parent(ctx, parent_id)


def settle_parent(ctx: WorkerContext, parent_id: uuid.UUID) -> None:
    settlement = run_db(
        ctx,
        repository.settle,
        parent_id,
        default_concurrency=ctx.settings.playlist_concurrency,
    )
    if settlement is None:
        return
    for child_id in settlement.canceled:
        event = status_event(child_id, JobStatus.CANCELED, 0.0, parent_id=parent_id)
        publisher.publish(ctx.redis, event)
    for child_id in settlement.dispatched:
        ctx.enqueue(child_id, 0)
    if settlement.ended is None:
        publisher.publish(ctx.redis, _progress_event(parent_id, settlement.progress,
                                                     settlement.grandparent_id))  # fmt: skip
        return
    event = status_event(
        parent_id,
        settlement.ended,
        settlement.progress,
        settlement.error,
        parent_id=settlement.grandparent_id,
    )
    publisher.publish(ctx.redis, event)
    logger.info("parent job %s ended %s", parent_id, settlement.ended)
    job_ended(
        ctx,
        parent_id,
        parent_id=settlement.grandparent_id,
        has_webhook=settlement.has_webhook,
    )


def _progress_event(
    job_id: uuid.UUID, progress: float, parent_id: uuid.UUID | None
) -> ProgressEvent:
    return ProgressEvent(
        type="progress",
        job_id=job_id,
        parent_id=parent_id,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        progress=round(progress, 1),
        at=utcnow(),
    )


def settle_all(ctx: WorkerContext) -> int:
    """Safety net of the reconciler: settle every expanded parent (a lost trigger, a worker
    that died between a child's end and its parent's settle)."""
    parents = run_db(ctx, repository.expanded_parents)
    for parent_id in parents:
        settle_parent(ctx, parent_id)
    return len(parents)
