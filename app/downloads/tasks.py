"""Celery entry points: thin, named wrappers that take ids only (STYLE: tasks)."""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache

import redis
from celery.signals import worker_process_init

from app.core.celery_app import (
    DOWNLOADS_QUEUE,
    HARD_LIMIT_MARGIN_SECONDS,
    MAINTENANCE_QUEUE,
    celery_app,
)
from app.core.config import get_settings
from app.core.database import create_sync_engine, sync_sessionmaker
from app.core.logging import bound_job
from app.downloads import pipeline, reconciler
from app.storage.factory import get_storage_handler

logger = logging.getLogger(__name__)

RUN_TASK = "downloads.run"
RECONCILE_TASK = "maintenance.reconcile"


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
    queue=DOWNLOADS_QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=get_settings().download_timeout + HARD_LIMIT_MARGIN_SECONDS,
    max_retries=0,
)
def run_download(job_id: str) -> None:
    with bound_job(job_id):
        pipeline.run_job(worker_context(), uuid.UUID(job_id))


@celery_app.task(name=RECONCILE_TASK, queue=MAINTENANCE_QUEUE, time_limit=120, max_retries=0)
def reconcile() -> None:
    reconciler.reconcile(worker_context(), enqueue=enqueue_download)


def enqueue_download(job_id: uuid.UUID) -> None:
    """Send the job's id to the broker; the task id is the job id (rule 1)."""
    celery_app.send_task(RUN_TASK, args=[str(job_id)], task_id=str(job_id), queue=DOWNLOADS_QUEUE)
