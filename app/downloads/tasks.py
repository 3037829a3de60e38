"""Celery entry points: thin, named wrappers that take ids only (STYLE: tasks)."""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache

import redis
from celery import Task
from celery.signals import worker_process_init, worker_ready

from app.auth.usage import sync_usage
from app.core.celery_app import (
    DOWNLOADS_QUEUE,
    HARD_LIMIT_MARGIN_SECONDS,
    MAINTENANCE_QUEUE,
    celery_app,
)
from app.core.config import get_settings
from app.core.database import create_sync_engine, sync_sessionmaker
from app.core.disk import lowest_free_gb
from app.core.logging import bound_job
from app.downloads import maintenance, pipeline, reconciler
from app.storage.factory import get_storage_handler

logger = logging.getLogger(__name__)

RUN_TASK = "downloads.run"
DISK_WAIT_SECONDS = 60
RECONCILE_TASK = "maintenance.reconcile"
HOUSEKEEPING_TASK = "maintenance.housekeeping"


@lru_cache(maxsize=1)
def worker_context() -> pipeline.WorkerContext:
    """Per worker process: one sync engine, one Redis client, one storage handler (rule 4)."""
    settings = get_settings()
    return pipeline.WorkerContext(
        settings=settings,
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5),
        storage=get_storage_handler(settings),
    )


@worker_process_init.connect
def _fresh_context_after_fork(**_kwargs: object) -> None:
    # Connections must never be shared across a fork.
    worker_context.cache_clear()


@celery_app.task(
    name=RUN_TASK,
    bind=True,
    queue=DOWNLOADS_QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=get_settings().download_timeout + HARD_LIMIT_MARGIN_SECONDS,
    max_retries=None,  # only the low-disk wait below retries, for as long as it takes
)
def run_download(self: Task, job_id: str) -> None:
    ctx = worker_context()
    with bound_job(job_id):
        free, where = lowest_free_gb(ctx.settings.work_dir)
        if free < ctx.settings.min_free_disk_gb:
            # The job stays queued (nothing claimed) until space is freed.
            logger.warning("only %.2f GB free at %s; job %s waits", free, where, job_id)
            raise self.retry(countdown=DISK_WAIT_SECONDS)
        pipeline.run_job(ctx, uuid.UUID(job_id))


@celery_app.task(name=RECONCILE_TASK, queue=MAINTENANCE_QUEUE, time_limit=120, max_retries=0)
def reconcile() -> None:
    reconciler.reconcile(worker_context(), enqueue=enqueue_download)


@celery_app.task(name=HOUSEKEEPING_TASK, queue=MAINTENANCE_QUEUE, time_limit=1800, max_retries=0)
def housekeeping() -> None:
    ctx = worker_context()
    sync_usage(ctx.redis, ctx.sessions)
    maintenance.expire_old_files(ctx)
    maintenance.sweep_work_dir(ctx)
    maintenance.abort_incomplete_uploads(ctx)


@worker_ready.connect
def _sweep_on_start(**_kwargs: object) -> None:
    # Each worker host has its own work directory; beat runs housekeeping on one of them.
    # This runs in the pool's parent: use a context of its own and close it again.
    ctx = worker_context()
    try:
        maintenance.sweep_work_dir(ctx)
    finally:
        worker_context.cache_clear()
        ctx.dispose()


def enqueue_download(job_id: uuid.UUID) -> None:
    """Send the job's id to the broker; the task id is the job id (rule 1)."""
    celery_app.send_task(RUN_TASK, args=[str(job_id)], task_id=str(job_id), queue=DOWNLOADS_QUEUE)
