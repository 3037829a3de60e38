"""Celery entry points: thin, named wrappers that take ids only (STYLE: tasks)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from functools import lru_cache
from pathlib import Path

import redis
from celery.signals import worker_process_init, worker_ready, worker_shutting_down

from app.auth.usage import sync_usage
from app.core.broker import pending_task_ids
from app.core.celery_app import (
    DOWNLOADS_QUEUE,
    HARD_LIMIT_MARGIN_SECONDS,
    MAINTENANCE_QUEUE,
    celery_app,
)
from app.core.config import get_settings
from app.core.database import create_sync_engine, sync_sessionmaker
from app.core.logging import bound_job
from app.core.presence import WorkerPresence
from app.downloads import maintenance, pipeline, reconciler
from app.downloads.context import WorkerContext
from app.playlists import worker as playlist_worker
from app.storage.factory import get_storage_handler
from app.webhooks.notify import sweep_unnotified

logger = logging.getLogger(__name__)

RUN_TASK = "downloads.run"
RECONCILE_TASK = "maintenance.reconcile"
HOUSEKEEPING_TASK = "maintenance.housekeeping"
SETTLE_TASK = "downloads.settle_parent"


@lru_cache(maxsize=1)
def worker_context() -> WorkerContext:
    """Per worker process: one sync engine, one Redis client, one storage handler (rule 4)."""
    settings = get_settings()
    return WorkerContext(
        settings=settings,
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5),
        storage=get_storage_handler(settings),
        enqueue=enqueue_download,
        draining=lambda: is_draining(settings.work_dir),
    )


@worker_process_init.connect
def _fresh_context_after_fork(**_kwargs: object) -> None:
    # Connections must never be shared across a fork.
    worker_context.cache_clear()


@celery_app.task(
    name=RUN_TASK,
    queue=DOWNLOADS_QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=get_settings().download_timeout + HARD_LIMIT_MARGIN_SECONDS,
    max_retries=0,
)
def run_download(job_id: str) -> None:
    with bound_job(job_id):
        pipeline.run_job(worker_context(), uuid.UUID(job_id))


@celery_app.task(name=SETTLE_TASK, queue=MAINTENANCE_QUEUE, time_limit=120, max_retries=0)
def settle_parent(parent_id: str) -> None:
    """Dispatch a playlist's, channel's or batch's next children, or end it (API changes)."""
    with bound_job(parent_id):
        playlist_worker.settle_parent(worker_context(), uuid.UUID(parent_id))


@celery_app.task(name=RECONCILE_TASK, queue=MAINTENANCE_QUEUE, time_limit=120, max_retries=0)
def reconcile() -> None:
    ctx = worker_context()
    queued = pending_task_ids(ctx.settings.effective_broker_url, DOWNLOADS_QUEUE)
    reconciler.reconcile(ctx, queued_in_broker=queued)
    # Webhook events a worker could not queue before it died.
    sweep_unnotified(ctx.sessions)


@celery_app.task(name=HOUSEKEEPING_TASK, queue=MAINTENANCE_QUEUE, time_limit=1800, max_retries=0)
def housekeeping() -> None:
    ctx = worker_context()
    sync_usage(ctx.redis, ctx.sessions)
    maintenance.expire_old_files(ctx)
    maintenance.sweep_work_dir(ctx)
    maintenance.abort_incomplete_uploads(ctx)


def _drain_flag(work_dir: Path, pid: int) -> Path:
    return work_dir / f".draining-{pid}"


def is_draining(work_dir: Path) -> bool:
    """Pool processes see the flag their parent (the worker's main process) set on SIGTERM."""
    return any(_drain_flag(work_dir, pid).exists() for pid in (os.getppid(), os.getpid()))


_presence: WorkerPresence | None = None


@worker_ready.connect
def _on_start(**_kwargs: object) -> None:
    global _presence
    settings = get_settings()
    _presence = WorkerPresence(
        redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5),
        f"{socket.gethostname()}:{os.getpid()}",
    )
    _presence.start()
    # Runs in the pool's parent: use a context of its own and close it again.
    ctx = worker_context()
    try:
        _drain_flag(ctx.settings.work_dir, os.getpid()).unlink(missing_ok=True)
        # Each worker host has its own work directory; beat sweeps only one of them.
        maintenance.sweep_work_dir(ctx)
        # Jobs lost while no worker ran (a flushed broker, a crash) start again now.
        queued = pending_task_ids(ctx.settings.effective_broker_url, DOWNLOADS_QUEUE)
        reconciler.reconcile(ctx, queued_in_broker=queued)
    except Exception:
        logger.exception("start-up housekeeping failed")
    finally:
        worker_context.cache_clear()
        ctx.dispose()


@worker_shutting_down.connect
def _on_shutdown(**_kwargs: object) -> None:
    # Warm shutdown: tell running jobs to finish within the grace period or hand back.
    if _presence is not None:
        _presence.stop()
    work_dir = get_settings().work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    _drain_flag(work_dir, os.getpid()).touch()


def enqueue_settle(parent_id: uuid.UUID) -> None:
    """Ask a worker to settle a parent after the API changed its family (cancel, retry,
    a new batch); the reconciler settles every parent periodically as well."""
    celery_app.send_task(SETTLE_TASK, args=[str(parent_id)], queue=MAINTENANCE_QUEUE)


def enqueue_download(job_id: uuid.UUID, countdown: float = 0) -> None:
    """Send the job's id to the broker, to run after `countdown` seconds (task id = job id)."""
    celery_app.send_task(
        RUN_TASK,
        args=[str(job_id)],
        task_id=str(job_id),
        queue=DOWNLOADS_QUEUE,
        countdown=countdown or None,
    )
