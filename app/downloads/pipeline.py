"""What a worker does with one job id: claim, download, store, record (rules 1-3, 6)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.database import session_scope, utcnow
from app.downloads import repository
from app.downloads.exceptions import JobCanceled, JobFailure, LeaseLost
from app.downloads.models import JobStage, JobStatus
from app.downloads.repository import ClaimedJob, NewFile
from app.downloads.runner import DownloadResult, YtDlpRunner
from app.downloads.schemas import JobError, JobOptions
from app.metrics.service import record_job_end
from app.progress import publisher
from app.progress.tracker import ProgressTracker
from app.storage.base import StorageHandler, StoredObject, build_key, media_type_for

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5
DB_WRITE_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    redis: redis.Redis
    storage: StorageHandler

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def dispose(self) -> None:
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()
        self.redis.close()


class LeaseKeeper:
    """Background thread: renews the lease, writes progress every ~2 s or on a stage change,
    and notices a cancel request or a lost lease for the download thread to act on."""

    def __init__(
        self, ctx: WorkerContext, job_id: uuid.UUID, tracker: ProgressTracker, worker_id: str
    ) -> None:
        self._ctx = ctx
        self._job_id = job_id
        self._tracker = tracker
        self._worker_id = worker_id
        self._deadline = time.monotonic() + ctx.settings.download_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{job_id}", daemon=True)
        self._written_stage = -1
        self._written_at = float("-inf")
        self.cancel_requested = False
        self.lost = False

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        """Raise in the download thread when the job must stop (called from yt-dlp hooks)."""
        if self.lost:
            raise LeaseLost()
        if self.cancel_requested:
            raise JobCanceled()
        if time.monotonic() > self._deadline:
            raise JobFailure(
                f"The job ran past DOWNLOAD_TIMEOUT ({self._ctx.settings.download_timeout} s).",
                code="timeout",
            )

    def _loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            now = time.monotonic()
            stage_changed = self._tracker.stage_version != self._written_stage
            if stage_changed or now - self._written_at >= DB_WRITE_SECONDS:
                self._write(now)

    def _write(self, now: float) -> None:
        stage_version = self._tracker.stage_version
        try:
            with session_scope(self._ctx.sessions) as session:
                state = repository.renew_lease(
                    session,
                    self._job_id,
                    worker_id=self._worker_id,
                    progress=self._tracker.db_fields(),
                )
        except SQLAlchemyError as exc:
            # The download goes on; the lease only expires after JOB_LEASE_SECONDS.
            logger.warning("could not renew the lease of job %s: %s", self._job_id, exc)
            return
        self._written_stage, self._written_at = stage_version, now
        self.lost = not state.owned
        self.cancel_requested = state.cancel_requested


def run_job(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    """Process one job. Safe to call for any id, any number of times (redeliveries)."""
    worker_id = f"{ctx.worker_id}:{uuid.uuid4().hex[:8]}"
    with session_scope(ctx.sessions) as session:
        claimed = repository.claim_job(
            session, job_id, worker_id=worker_id, lease_seconds=ctx.settings.job_lease_seconds
        )
    if claimed is None:
        logger.info("job %s is not claimable (taken, finished or gone); skipping", job_id)
        return
    tracker = ProgressTracker(
        job_id, publish=partial(publisher.publish, ctx.redis), floor=claimed.progress
    )
    finish = partial(_finish, ctx, claimed, worker_id, tracker)
    if claimed.attempts > ctx.settings.max_attempts:
        finish(
            JobStatus.FAILED,
            error=JobError(
                code="worker_lost",
                message=(f"The job was interrupted {claimed.attempts - 1} times; giving up."),
            ),
        )
        return
    tracker.publish_status(JobStatus.PROCESSING)
    workdir = ctx.settings.work_dir / str(job_id)
    stored: list[StoredObject] = []
    keep_workdir = False
    try:
        with LeaseKeeper(ctx, job_id, tracker, worker_id) as keeper:
            runner = YtDlpRunner(
                settings=ctx.settings,
                tracker=tracker,
                check_stop=keeper.check,
                on_metadata=partial(_record_metadata, ctx, job_id, worker_id),
            )
            result = runner.run(claimed.url, JobOptions.model_validate(claimed.options), workdir)
            tracker.set_stage(JobStage.UPLOADING)
            files = _store_all(ctx.storage, job_id, result, stored, tracker, keeper)
            keeper.check()
        if not finish(JobStatus.COMPLETED, files=files, details=result.details):
            raise LeaseLost()
        logger.info("job %s completed with %d files", job_id, len(files))
    except LeaseLost:
        # Another worker owns the job now; what it writes is the truth, so touch nothing.
        keep_workdir = True
        logger.warning("job %s: lease lost, stopping without writing", job_id)
    except JobCanceled:
        _discard(ctx.storage, stored)
        finish(JobStatus.CANCELED)
        logger.info("job %s canceled", job_id)
    except JobFailure as failure:
        _discard(ctx.storage, stored)
        finish(JobStatus.FAILED, error=JobError(code=failure.code, message=failure.message))
        logger.info("job %s failed: %s (%s)", job_id, failure.code, failure.message)
    except Exception:
        logger.exception("job %s crashed", job_id)
        _discard(ctx.storage, stored)
        finish(
            JobStatus.FAILED,
            error=JobError(code="internal_error", message="Unexpected worker error."),
        )
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _store_all(
    storage: StorageHandler,
    job_id: uuid.UUID,
    result: DownloadResult,
    stored: list[StoredObject],
    tracker: ProgressTracker,
    keeper: LeaseKeeper,
) -> list[NewFile]:
    total = sum(f.path.stat().st_size for f in result.files) or 1
    moved = 0
    files: list[NewFile] = []
    for item in result.files:
        keeper.check()
        size = item.path.stat().st_size
        obj = storage.store(
            item.path,
            build_key(str(job_id), item.path.name),
            media_type=media_type_for(item.format),
        )
        stored.append(obj)
        files.append(
            NewFile(
                kind=item.kind,
                language=item.language,
                format=item.format,
                size=obj.size,
                sha256=obj.sha256,
                storage_key=obj.key,
            )
        )
        moved += size
        tracker.advance(moved / total)
    return files


def _discard(storage: StorageHandler, stored: list[StoredObject]) -> None:
    for obj in stored:
        try:
            storage.delete(obj.key)
        except Exception:
            logger.exception("could not delete %s", obj.key)


def _record_metadata(
    ctx: WorkerContext, job_id: uuid.UUID, worker_id: str, fields: dict[str, Any]
) -> None:
    with session_scope(ctx.sessions) as session:
        if not repository.record_metadata(session, job_id, worker_id=worker_id, fields=fields):
            raise LeaseLost()


def _finish(
    ctx: WorkerContext,
    claimed: ClaimedJob,
    worker_id: str,
    tracker: ProgressTracker,
    status: JobStatus,
    *,
    error: JobError | None = None,
    files: list[NewFile] | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    fields: dict[str, Any] = {"stage": None, "speed": None, "eta": None}
    if details is not None:
        fields["details"] = details
    if status is JobStatus.COMPLETED:
        fields |= {"progress": 100.0}
        fields |= {
            k: v for k, v in tracker.db_fields().items() if k in ("downloaded_bytes", "total_bytes")
        }
    if error is not None:
        fields |= {"error_code": error.code, "error_message": error.message}
    with session_scope(ctx.sessions) as session:
        done = repository.finish_job(
            session,
            claimed.id,
            worker_id=worker_id,
            status=status,
            fields=fields,
            files=files or (),
        )
    if done:
        tracker.publish_status(status, error)
        record_job_end(
            ctx.redis,
            status,
            error_code=error.code if error else None,
            duration=(utcnow() - claimed.started_at).total_seconds(),
            downloaded_bytes=tracker.db_fields()["downloaded_bytes"] or 0,
            stored_bytes=sum(f.size for f in files or ()),
        )
    return done
