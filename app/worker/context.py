"""What every worker-side function gets: settings, a sync session factory, Redis, storage,
and how to enqueue a job."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.database import session_scope
from app.core.db_retry import with_db_retry
from app.storage.base import StorageHandler

T = TypeVar("T")


def _never() -> bool:
    return False


def _no_enqueue(job_id: uuid.UUID, countdown: float) -> None:
    raise RuntimeError(f"this worker context cannot enqueue job {job_id}")


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    redis: redis.Redis
    storage: StorageHandler
    # Sends a job's id to the broker, to run after `countdown` seconds.
    enqueue: Callable[[uuid.UUID, float], None] = _no_enqueue
    # True once this worker was asked to shut down (SIGTERM).
    draining: Callable[[], bool] = _never

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
