"""Entry points for the rest of the service: a job with a webhook has ended, and the sweep
that catches endings whose notification was lost."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy.orm import Session, sessionmaker

from app.core.database import session_scope, utcnow
from app.webhooks import repository
from app.worker.dispatch import send_webhook_attempt

logger = logging.getLogger(__name__)

# A notification normally goes out within a second of the ending; past this it was lost.
SWEEP_GRACE = dt.timedelta(seconds=60)
SWEEP_WINDOW = dt.timedelta(hours=24)
SWEEP_BATCH = 500


def notify_job_ended(job_id: uuid.UUID) -> None:
    """Queue the delivery of the job's terminal event to its webhook (sync; call after the
    transaction that ended the job has committed)."""
    send_webhook_attempt(job_id, None, 1, 0)


def sweep_unnotified(sessions: sessionmaker[Session], *, now: dt.datetime | None = None) -> int:
    """Notify again the jobs with a webhook that ended between 24 h and 60 s ago and have no
    delivery attempt since (their worker died between the commit and `notify_job_ended`,
    or the message was lost). Returns how many were sent; a duplicate is harmless."""
    now = now or utcnow()
    with session_scope(sessions) as session:
        job_ids = repository.find_unnotified(
            session,
            ended_after=now - SWEEP_WINDOW,
            ended_before=now - SWEEP_GRACE,
            limit=SWEEP_BATCH,
        )
    for job_id in job_ids:
        notify_job_ended(job_id)
    if job_ids:
        logger.info("re-sent %d lost webhook notifications", len(job_ids))
    return len(job_ids)
