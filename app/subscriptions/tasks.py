"""Beat's subscription task: start the checks that are due. The checks themselves are
family jobs run by `downloads.run`; importing `checks` registers their hooks."""

from __future__ import annotations

import logging

from app.core.celery_app import CHECK_SUBSCRIPTIONS_TASK, MAINTENANCE_QUEUE, celery_app
from app.subscriptions import checks
from app.worker.context import worker_context

logger = logging.getLogger(__name__)


@celery_app.task(
    name=CHECK_SUBSCRIPTIONS_TASK, queue=MAINTENANCE_QUEUE, time_limit=120, max_retries=0
)
def check_due() -> None:
    started = checks.start_due_checks(worker_context())
    if started:
        logger.info("started %d subscription checks", started)
    expired = checks.keep_last(worker_context())
    if expired:
        logger.info("expired %d downloads beyond their subscription's keep_last", expired)
