"""What Celery beat runs, and what a worker does when it starts and stops: find jobs that
a lost message or a dead worker left behind, resend lost webhooks, expire old files, sweep
work directories and incomplete uploads, move key usage onto the key rows, and check stored
files against their recorded SHA-256 (the integrity scrub)."""

from __future__ import annotations

import logging
import os
import socket

import redis
from celery.signals import worker_ready, worker_shutting_down

from app.auth.usage import sync_usage
from app.core.broker import pending_task_ids
from app.core.celery_app import (
    DOWNLOADS_QUEUE,
    HOUSEKEEPING_TASK,
    MAINTENANCE_QUEUE,
    RECONCILE_TASK,
    SCRUB_TASK,
    TRANSCRIPTION_QUEUE,
    celery_app,
)
from app.core.config import get_settings
from app.downloads import integrity, reconciler, retention
from app.webhooks.notify import sweep_unnotified
from app.worker.context import WorkerContext, worker_context
from app.worker.draining import start_draining, stop_draining
from app.worker.presence import WorkerPresence
from app.worker.restart import restart_when_idle
from app.youtube.reports import WorkerReporter
from app.youtube.updates import YtdlpUpdater, running_version

logger = logging.getLogger(__name__)


@celery_app.task(name=RECONCILE_TASK, queue=MAINTENANCE_QUEUE, time_limit=120, max_retries=0)
def reconcile() -> None:
    ctx = worker_context()
    _reconcile(ctx)
    # Webhook events a worker could not queue before it died.
    sweep_unnotified(ctx.sessions)


@celery_app.task(name=HOUSEKEEPING_TASK, queue=MAINTENANCE_QUEUE, time_limit=1800, max_retries=0)
def housekeeping() -> None:
    ctx = worker_context()
    sync_usage(ctx.redis, ctx.sessions)
    retention.expire_old_files(ctx)
    retention.expire_paused(ctx)
    retention.sweep_work_dir(ctx)
    retention.abort_incomplete_uploads(ctx)


@celery_app.task(name=SCRUB_TASK, queue=MAINTENANCE_QUEUE, time_limit=3600, max_retries=0)
def scrub() -> None:
    integrity.scrub(worker_context())


def _reconcile(ctx: WorkerContext) -> None:
    broker = ctx.settings.effective_broker_url
    queued = pending_task_ids(broker, DOWNLOADS_QUEUE)
    waiting = pending_task_ids(broker, TRANSCRIPTION_QUEUE)
    # Task id = job id in both queues (a job waiting for recognition is in the second).
    in_broker = None if queued is None or waiting is None else queued | waiting
    reconciler.reconcile(ctx, queued_in_broker=in_broker)
    reconciler.raise_aged(ctx)


_presence: WorkerPresence | None = None
_updater: YtdlpUpdater | None = None
_reporter: WorkerReporter | None = None


@worker_ready.connect
def _on_start(**_kwargs: object) -> None:
    global _presence, _updater, _reporter
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    _presence = WorkerPresence(client, worker, ytdlp_version=running_version())
    _presence.start()
    _reporter = WorkerReporter(settings, client, worker)
    _reporter.start()
    _updater = YtdlpUpdater(settings, client, on_new_version=_restart_for)
    _updater.start()
    # Runs in the pool's parent: use a context of its own and close it again.
    ctx = worker_context()
    try:
        stop_draining(ctx.settings.work_dir)
        # Each worker host has its own work directory; beat sweeps only one of them.
        retention.sweep_work_dir(ctx)
        # Jobs lost while no worker ran (a flushed broker, a crash) start again now.
        _reconcile(ctx)
    except Exception:
        logger.exception("start-up housekeeping failed")
    finally:
        worker_context.cache_clear()
        ctx.dispose()


def _restart_for(version: str) -> None:
    # A new yt-dlp applies to new processes: start again once no download runs.
    if _updater is not None:
        restart_when_idle(_updater.stopped, reason=f"yt-dlp {version} replaces {running_version()}")


@worker_shutting_down.connect
def _on_shutdown(**_kwargs: object) -> None:
    # Warm shutdown: tell running jobs to finish within the grace period or hand back.
    if _updater is not None:
        _updater.stop()
    if _reporter is not None:
        _reporter.stop()
    if _presence is not None:
        _presence.stop()
    start_draining(get_settings().work_dir)
