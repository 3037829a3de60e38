"""Celery entry point of webhook deliveries: a thin, named wrapper that takes ids only."""

from __future__ import annotations

import uuid

from app.auth.keys import load_server_secret
from app.core.celery_app import DELIVER_WEBHOOK_TASK, MAINTENANCE_QUEUE, celery_app
from app.core.config import get_settings
from app.core.logging import bound_job
from app.webhooks import delivery
from app.worker.context import worker_context
from app.worker.dispatch import send_webhook_attempt


def _context() -> delivery.DeliveryContext:
    # The worker process's one sync engine, shared with the download tasks.
    ctx = worker_context()
    return delivery.DeliveryContext(
        settings=ctx.settings,
        sessions=ctx.sessions,
        server_secret=load_server_secret(ctx.settings),
        schedule=send_webhook_attempt,
    )


@celery_app.task(
    name=DELIVER_WEBHOOK_TASK,
    queue=MAINTENANCE_QUEUE,
    acks_late=True,
    # Resolving, then up to a few addresses each given the full timeout.
    time_limit=int(get_settings().webhook_timeout_seconds * 4) + 60,
    max_retries=0,
)
def deliver(job_id: str, event_id: str | None = None, attempt: int = 1) -> None:
    with bound_job(job_id):
        delivery.deliver(
            _context(),
            uuid.UUID(job_id),
            event_id=uuid.UUID(event_id) if event_id else None,
            attempt=attempt,
        )
