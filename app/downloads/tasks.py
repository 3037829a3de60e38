"""Celery entry points of downloads: thin, named wrappers that take ids only and reload the
row, so a redelivered message is harmless."""

from __future__ import annotations

import uuid

from app.core.celery_app import (
    DOWNLOADS_QUEUE,
    HARD_LIMIT_MARGIN_SECONDS,
    MAINTENANCE_QUEUE,
    RUN_DOWNLOAD_TASK,
    SETTLE_PARENT_TASK,
    TRANSCRIBE_TASK,
    TRANSCRIPTION_QUEUE,
    celery_app,
)
from app.core.config import get_settings
from app.core.logging import bound_job
from app.downloads import families, pipeline, transcription
from app.worker.context import worker_context


@celery_app.task(
    name=RUN_DOWNLOAD_TASK,
    queue=DOWNLOADS_QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=get_settings().download_timeout + HARD_LIMIT_MARGIN_SECONDS,
    max_retries=0,
)
def run_download(job_id: str) -> None:
    with bound_job(job_id):
        pipeline.run_job(worker_context(), uuid.UUID(job_id))


@celery_app.task(
    name=TRANSCRIBE_TASK,
    queue=TRANSCRIPTION_QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=get_settings().asr_timeout + HARD_LIMIT_MARGIN_SECONDS,
    max_retries=0,
)
def run_transcription(job_id: str) -> None:
    """Speech recognition of a job whose media is stored (its own queue and workers)."""
    with bound_job(job_id):
        transcription.run_transcription(worker_context(), uuid.UUID(job_id))


@celery_app.task(name=SETTLE_PARENT_TASK, queue=MAINTENANCE_QUEUE, time_limit=120, max_retries=0)
def settle_parent(parent_id: str) -> None:
    """Dispatch a playlist's, channel's or batch's next children, or end it (API changes)."""
    with bound_job(parent_id):
        families.settle_parent(worker_context(), uuid.UUID(parent_id))
