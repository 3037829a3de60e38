"""What every worker-side function gets: settings, a sync session factory, Redis, storage,
how to enqueue a job and whether the worker is shutting down. One per worker process."""

from __future__ import annotations

import gc
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import redis
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings, get_settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.core.db_retry import with_db_retry
from app.core.memtrace import setup_memory_trace
from app.core.tracing import setup_tracing, shutdown_tracing
from app.storage.base import StorageHandler
from app.storage.factory import get_storage_handler
from app.worker.dispatch import Enqueue, enqueue_download, enqueue_transcription
from app.worker.draining import is_draining

T = TypeVar("T")


def _never() -> bool:
    return False


def _no_enqueue(job_id: uuid.UUID, countdown: float) -> None:
    raise RuntimeError(f"this worker context cannot enqueue job {job_id}")


def _no_download(job_id: uuid.UUID, countdown: float, priority: str) -> None:
    _no_enqueue(job_id, countdown)


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    redis: redis.Redis
    storage: StorageHandler
    # Sends a job's id to the broker, to run after `countdown` seconds, on the download
    # queue of its priority.
    enqueue: Enqueue = _no_download
    # True once this worker was asked to shut down (SIGTERM).
    draining: Callable[[], bool] = _never
    # Sends a job whose media is stored to the speech-recognition queue.
    enqueue_transcription: Callable[[uuid.UUID, float], None] = _no_enqueue

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def dispose(self) -> None:
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()
        self.redis.close()


def run_db(ctx: WorkerContext, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A short unit of work that waits out a database outage of up to WORKER_DB_RETRY_SECONDS."""

    def attempt() -> T:
        with session_scope(ctx.sessions) as session:
            return query(session, *args, **kwargs)

    return with_db_retry(attempt, within=ctx.settings.worker_db_retry_seconds)


@lru_cache(maxsize=1)
def worker_context() -> WorkerContext:
    """This process's context: one sync engine, one Redis client, one storage handler."""
    settings = get_settings()
    return WorkerContext(
        settings=settings,
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5),
        storage=get_storage_handler(settings),
        enqueue=enqueue_download,
        draining=lambda: is_draining(settings.work_dir),
        enqueue_transcription=enqueue_transcription,
    )


@worker_init.connect
def _freeze_before_fork(**_kwargs: object) -> None:
    # The pool processes are forked after this, sharing the worker's memory (its imports)
    # copy-on-write. A garbage collection in a pool process writes to the header of every
    # object it walks, so each page it touches would become the process's own copy: frozen
    # objects are never walked, and their pages stay shared.
    gc.collect()
    gc.freeze()


@worker_process_init.connect
def _fresh_context_after_fork(**_kwargs: object) -> None:
    # Connections must never be shared across a fork.
    worker_context.cache_clear()
    # In the pool process, not before the fork: the span exporter's thread would not
    # survive it. Before the context's engine is made, so its queries are traced.
    setup_tracing(get_settings(), role="worker")
    # Off unless MEMORY_TRACE_DIR: this pool process's allocations from here on, with a
    # snapshot on SIGUSR2 (the fork's inherited objects are not traced: they do not grow).
    setup_memory_trace(get_settings(), role="worker")


@worker_process_shutdown.connect
def _send_last_spans(**_kwargs: object) -> None:
    # A pool process leaves without running the exit hooks that would send them.
    shutdown_tracing()
