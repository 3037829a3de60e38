"""The Celery application shared by the API (to enqueue), workers and beat."""

from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging

DOWNLOADS_QUEUE = "downloads"  # normal priority (the queue's name from before priorities)
DOWNLOADS_HIGH_QUEUE = "downloads.high"
DOWNLOADS_LOW_QUEUE = "downloads.low"
# A download's queue by its priority. Workers list them in this order, after maintenance's
# short tasks, and take from the first that holds a message (see `_transport_options`).
DOWNLOAD_QUEUES = {
    "high": DOWNLOADS_HIGH_QUEUE,
    "normal": DOWNLOADS_QUEUE,
    "low": DOWNLOADS_LOW_QUEUE,
}
MAINTENANCE_QUEUE = "maintenance"
# What a download worker consumes, in the order it prefers them (`-Q`).
WORKER_QUEUES = (MAINTENANCE_QUEUE, *DOWNLOAD_QUEUES.values())
# Speech recognition: its own queue and workers (ASR_CONCURRENCY), so a long recognition
# never holds a download slot.
TRANSCRIPTION_QUEUE = "transcription"
# Task names: the contract between whoever sends a message (`app.worker.dispatch`, beat)
# and the task shell that runs it (each domain's `tasks.py`).
RUN_DOWNLOAD_TASK = "downloads.run"
SETTLE_PARENT_TASK = "downloads.settle_parent"
TRANSCRIBE_TASK = "transcription.run"
DELIVER_WEBHOOK_TASK = "webhooks.deliver"
RECONCILE_TASK = "maintenance.reconcile"
HOUSEKEEPING_TASK = "maintenance.housekeeping"
SCRUB_TASK = "maintenance.scrub"
CHECK_SUBSCRIPTIONS_TASK = "subscriptions.check_due"
CHECK_SUBSCRIPTIONS_INTERVAL_SECONDS = 60.0
HOUSEKEEPING_INTERVAL_SECONDS = 600.0
# Margin between the soft deadline the worker enforces itself and Celery's hard kill.
HARD_LIMIT_MARGIN_SECONDS = 120


SQS_MAX_VISIBILITY_SECONDS = 12 * 3600


def download_queue(priority: str) -> str:
    """The queue of a download message of this priority (`low`, `normal` or `high`)."""
    return DOWNLOAD_QUEUES.get(str(priority), DOWNLOADS_QUEUE)


def _transport_options(settings: Settings, hard_limit: int) -> dict[str, object]:
    # The broker re-delivers an unacknowledged message after the visibility timeout: keep
    # it above the longest possible task so a running download is never handed out twice.
    visibility = hard_limit + 600
    if settings.effective_broker_url.startswith("sqs://"):
        return {
            "region": settings.aws_region,
            "visibility_timeout": min(visibility, SQS_MAX_VISIBILITY_SECONDS),
            "wait_time_seconds": 10,  # long polling: fewer, cheaper receive calls
            "polling_interval": 1,
        }
    # Redis: one BRPOP over the worker's queues in the order it lists them (`-Q`), which
    # returns from the first non-empty one; the default, round_robin, rotates that order
    # after each message and would serve a low download as soon as a high one. SQS polls
    # each queue on its own: there the order is a preference, not a guarantee.
    return {"visibility_timeout": visibility, "queue_order_strategy": "priority"}


def _beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    schedule: dict[str, dict[str, object]] = {
        "reconcile-jobs": {
            "task": RECONCILE_TASK,
            "schedule": settings.reconcile_interval_seconds,
            "options": {"expires": settings.reconcile_interval_seconds},
        },
        "housekeeping": {
            "task": HOUSEKEEPING_TASK,
            "schedule": HOUSEKEEPING_INTERVAL_SECONDS,
            "options": {"expires": HOUSEKEEPING_INTERVAL_SECONDS},
        },
        "check-subscriptions": {
            "task": CHECK_SUBSCRIPTIONS_TASK,
            "schedule": CHECK_SUBSCRIPTIONS_INTERVAL_SECONDS,
            "options": {"expires": CHECK_SUBSCRIPTIONS_INTERVAL_SECONDS},
        },
    }
    interval = settings.integrity_scrub_interval_seconds
    if interval:
        schedule["integrity-scrub"] = {
            "task": SCRUB_TASK,
            "schedule": interval,
            "options": {"expires": interval},
        }
    return schedule


def create_celery(settings: Settings) -> Celery:
    app = Celery(
        "yds",
        broker=settings.effective_broker_url,
        include=[
            "app.downloads.tasks",
            "app.webhooks.tasks",
            "app.subscriptions.tasks",
            "app.maintenance.tasks",
        ],
    )
    hard_limit = max(settings.download_timeout, settings.asr_timeout) + HARD_LIMIT_MARGIN_SECONDS
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.max_concurrent_downloads,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings, hard_limit),
        task_default_queue=DOWNLOADS_QUEUE,
        task_routes={
            "maintenance.*": {"queue": MAINTENANCE_QUEUE},
            "subscriptions.*": {"queue": MAINTENANCE_QUEUE},
            "transcription.*": {"queue": TRANSCRIPTION_QUEUE},
        },
        beat_schedule=_beat_schedule(settings),
        timezone="UTC",
    )
    return app


celery_app = create_celery(get_settings())


@setup_logging.connect
def _use_our_logging(**_kwargs: object) -> None:
    # Workers and beat log like the API: text locally, JSON on AWS, with the job id bound.
    configure_logging(get_settings())
