"""Sending work to the workers. Messages carry ids only: the task reloads the row, which
stays the truth (a lost message is found again by the reconciler)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from app.core.celery_app import (
    DELIVER_WEBHOOK_TASK,
    MAINTENANCE_QUEUE,
    RUN_DOWNLOAD_TASK,
    SETTLE_PARENT_TASK,
    TRANSCRIBE_TASK,
    TRANSCRIPTION_QUEUE,
    celery_app,
    download_queue,
)

# Sends a job's id to the broker: (job id, countdown in seconds, priority).
Enqueue = Callable[[uuid.UUID, float, str], None]


def enqueue_download(job_id: uuid.UUID, countdown: float = 0, priority: str = "normal") -> None:
    """Send the job's id to the broker, to run after `countdown` seconds (task id = job id),
    on the download queue of its priority."""
    celery_app.send_task(
        RUN_DOWNLOAD_TASK,
        args=[str(job_id)],
        task_id=str(job_id),
        queue=download_queue(priority),
        countdown=countdown or None,
    )


def enqueue_transcription(job_id: uuid.UUID, countdown: float = 0) -> None:
    """Send a job whose media is stored to the speech-recognition workers (task id = job
    id, as its download's: the reconciler reads both queues)."""
    celery_app.send_task(
        TRANSCRIBE_TASK,
        args=[str(job_id)],
        task_id=str(job_id),
        queue=TRANSCRIPTION_QUEUE,
        countdown=countdown or None,
    )


def enqueue_settle(parent_id: uuid.UUID) -> None:
    """Ask a worker to settle a parent job (dispatch its next children, or end it)."""
    celery_app.send_task(SETTLE_PARENT_TASK, args=[str(parent_id)], queue=MAINTENANCE_QUEUE)


def send_webhook_attempt(
    job_id: uuid.UUID, event_id: uuid.UUID | None, attempt: int, countdown: float
) -> None:
    """Send attempt number `attempt` of the job's webhook event, due in `countdown` s."""
    celery_app.send_task(
        DELIVER_WEBHOOK_TASK,
        args=[str(job_id), str(event_id) if event_id else None, attempt],
        queue=MAINTENANCE_QUEUE,
        countdown=countdown or None,
    )
