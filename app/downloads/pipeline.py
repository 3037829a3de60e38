"""What a worker does with one job id: claim it with a compare-and-set, download (or expand
a playlist) with no database session open, store the files, and end the job; a cancel, a
lost lease or a shutdown is noticed between steps and stops the run cooperatively."""

from __future__ import annotations

import datetime as dt
import logging
import random
import shutil
import uuid
from functools import partial
from typing import Any

from app.core import tracing
from app.core.database import utcnow
from app.core.disk import lowest_free_gb
from app.downloads import repository
from app.downloads.endings import RunFigures, end_job, record_retry, worker_lost
from app.downloads.engine.progress import ProgressTracker
from app.downloads.engine.runner import DownloadResult, YtDlpRunner
from app.downloads.exceptions import (
    HandBack,
    JobCanceled,
    JobFailure,
    JobPaused,
    LeaseLost,
    OutsideDateWindow,
)
from app.downloads.expansion import drop_outside_window, expand_parent
from app.downloads.families import settle_parent, worker_effects
from app.downloads.leases import Lease
from app.downloads.repository import ClaimedJob, held_by
from app.downloads.schemas import DateWindow, JobOptions
from app.downloads.urls import youtube_video_id
from app.jobs import events
from app.jobs.models import JobFile, JobStage, JobStatus, Priority, WaitingReason
from app.jobs.schemas import JobError
from app.storage.base import (
    StorageHandler,
    StorageUnavailable,
    StoredObject,
    build_key,
    media_type_for,
)
from app.transcripts.cues import Cue
from app.worker.context import WorkerContext, run_db
from app.youtube import routes

logger = logging.getLogger(__name__)

DISK_WAIT_SECONDS = 60
# After a bot check or HTTP 429 the job tries the next route this soon (a retry all the same).
ROUTE_SWITCH_SECONDS = 1.0


class LeaseKeeper(Lease):
    """The lease of a download: progress from its tracker, written every ~2 s or on a stage
    change; past DOWNLOAD_TIMEOUT the job fails with `timeout`."""

    def __init__(
        self, ctx: WorkerContext, job_id: uuid.UUID, tracker: ProgressTracker, worker_id: str
    ) -> None:
        super().__init__(ctx, job_id, worker_id, timeout=ctx.settings.download_timeout)
        self._tracker = tracker
        self._written_stage = -1
        self._writing_stage = -1

    def timed_out(self) -> Exception:
        return JobFailure(
            f"The job ran past DOWNLOAD_TIMEOUT ({self._ctx.settings.download_timeout} s).",
            code="timeout",
        )

    def write_due(self) -> bool:
        return self._tracker.stage_version != self._written_stage

    def progress_fields(self) -> dict[str, Any]:
        self._writing_stage = self._tracker.stage_version
        return self._tracker.db_fields()

    def written(self) -> None:
        self._written_stage = self._writing_stage


def run_job(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    """Process one job. Safe to call for any id, any number of times (redeliveries)."""
    wait = _reason_to_wait(ctx, job_id)
    if wait is not None:
        # Nothing is claimed: the job stays queued and its message comes back later.
        reason, delay = wait
        priority = _put_off(ctx, job_id, reason, delay)
        ctx.enqueue(job_id, delay, priority)
        return
    worker_id = f"{ctx.worker_id}:{uuid.uuid4().hex[:8]}"
    claimed = run_db(ctx, repository.claim_job, job_id, worker_id=worker_id,
                  lease_seconds=ctx.settings.job_lease_seconds)  # fmt: skip
    if claimed is None:
        logger.info("job %s is not claimable (taken, finished or gone); skipping", job_id)
        return
    tracker = ProgressTracker(
        job_id,
        publish=tracing.untraced(partial(events.publish, ctx.redis)),
        floor=claimed.progress,
        parent_id=claimed.parent_id,
    )
    route = routes.choose(ctx.redis, ctx.settings)
    outcome = _Outcome(ctx, claimed, worker_id, tracker, route)
    if claimed.attempts > ctx.settings.max_attempts:
        outcome.finish(
            JobStatus.FAILED, error=worker_lost(claimed.attempts - 1, claimed.last_error)
        )
        return
    tracker.publish_status(JobStatus.PROCESSING)
    # Removed when the job ends (`endings.announce`), kept when it runs again (a retry, a
    # hand-back, a lost lease): yt-dlp then resumes its .part files with HTTP Range.
    workdir = ctx.settings.work_dir / str(job_id)
    try:
        with LeaseKeeper(ctx, job_id, tracker, worker_id) as keeper:
            if claimed.kind.is_parent:
                with tracing.span("download.expand", job_id=job_id):
                    expanded = expand_parent(
                        ctx, claimed, worker_id=worker_id, check_stop=keeper.check, route=route
                    )
                if not expanded:
                    raise LeaseLost()
                return
            runner = YtDlpRunner(
                settings=ctx.settings,
                tracker=tracker,
                check_stop=keeper.check,
                on_metadata=partial(_record_metadata, ctx, job_id, worker_id),
                route=route,
            )
            result = runner.run(
                claimed.url,
                JobOptions.model_validate(claimed.options),
                workdir,
                window=DateWindow.from_json(claimed.collection),
            )
            tracker.set_stage(JobStage.UPLOADING)
            keeper.pausable = False  # too late to pause: the job completes
            with tracing.span("download.store", job_id=job_id):
                files = _store_all(ctx.storage, claimed, result, outcome.stored, tracker, keeper)
            keeper.check()
        if result.recognition:
            if not outcome.hand_over(files, details=result.details):
                raise LeaseLost()
            logger.info("job %s: %d files stored; speech recognition follows", job_id, len(files))
            return
        done = outcome.finish(
            JobStatus.COMPLETED, files=files, details=result.details, transcripts=result.transcripts
        )
        if not done:
            raise LeaseLost()
        logger.info("job %s completed with %d files", job_id, len(files))
    except LeaseLost:
        # Another worker owns the job now; what it writes is the truth, so touch nothing.
        logger.warning("job %s: lease lost, stopping without writing", job_id)
    except HandBack:
        outcome.hand_back()
    except OutsideDateWindow as outside:
        outcome.discard()
        shutil.rmtree(workdir, ignore_errors=True)  # no longer a job: nothing ends it
        drop_outside_window(ctx, claimed, worker_id=worker_id, upload_date=outside.upload_date)
    except JobCanceled:
        outcome.discard()
        outcome.finish(JobStatus.CANCELED)
        logger.info("job %s canceled", job_id)
    except JobPaused:
        # Its partial files stay in the work directory for the resume to continue.
        outcome.discard()
        outcome.pause()
    except JobFailure as failure:
        outcome.discard()
        outcome.fail_or_retry(failure)
    except Exception:
        logger.exception("job %s crashed", job_id)
        outcome.discard()
        outcome.finish(
            JobStatus.FAILED,
            error=JobError(code="internal_error", message="Unexpected worker error."),
        )


def _reason_to_wait(ctx: WorkerContext, job_id: uuid.UUID) -> tuple[WaitingReason, float] | None:
    """Why and how many seconds to put the job off: the disk is nearly full, or YouTube
    throttles every route we have."""
    free, where = lowest_free_gb(ctx.settings.work_dir)
    if free < ctx.settings.min_free_disk_gb:
        logger.warning("only %.2f GB free at %s; job %s waits", free, where, job_id)
        return WaitingReason.LOW_DISK, DISK_WAIT_SECONDS
    states = routes.route_states(ctx.redis, ctx.settings)
    if not routes.all_resting(states):
        return None
    if youtube_video_id(run_db(ctx, repository.get_url, job_id) or "") is None:
        return None
    wake = routes.earliest_wake(states)
    logger.info("every route rests after YouTube throttled it; job %s waits %d s", job_id, wake)
    return WaitingReason.YOUTUBE_PAUSED, wake + random.uniform(0, 5)


def _put_off(
    ctx: WorkerContext, job_id: uuid.UUID, reason: WaitingReason, delay: float
) -> Priority:
    """Record on the row and tell the job's watchers why it waits and until when; the
    job's priority, which its message keeps."""
    retry_at = utcnow() + dt.timedelta(seconds=delay)
    put_off = run_db(ctx, repository.put_off, job_id, reason=reason, until=retry_at)
    if put_off is None:
        return Priority.NORMAL
    event = events.status_event(job_id, JobStatus.QUEUED, put_off.progress,
                                parent_id=put_off.parent_id)  # fmt: skip
    events.publish(
        ctx.redis, event.model_copy(update={"waiting_reason": reason, "retry_at": retry_at})
    )
    return put_off.priority


def backoff_seconds(retries: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: between half and all of min(cap, base * 2^retries)."""
    delay: float = min(cap, base * 2**retries)
    return delay / 2 + random.uniform(0, delay / 2)


class _Outcome:
    """How a claimed job ends: finished, retried later, or handed back."""

    def __init__(
        self,
        ctx: WorkerContext,
        claimed: ClaimedJob,
        worker_id: str,
        tracker: ProgressTracker,
        route: routes.Route,
    ) -> None:
        self.ctx = ctx
        self.claimed = claimed
        self.worker_id = worker_id
        self.tracker = tracker
        self.route = route
        self.stored: list[StoredObject] = []

    def discard(self) -> None:
        _discard(self.ctx.storage, self.stored)
        self.stored.clear()

    def hand_back(self) -> None:
        job_id = self.claimed.id
        if run_db(self.ctx, repository.release_job, job_id, worker_id=self.worker_id):
            self.ctx.enqueue(job_id, 0, self.claimed.priority)
            self.tracker.publish_status(JobStatus.QUEUED)
            logger.info("job %s handed back for another worker to resume", job_id)

    def pause(self) -> None:
        """The owner paused the job: it leaves the worker, keeping its work directory."""
        job_id = self.claimed.id
        if not run_db(self.ctx, repository.pause_held, job_id, worker_id=self.worker_id):
            return
        self.tracker.publish_status(JobStatus.PAUSED)
        if self.claimed.parent_id is not None:
            # A paused entry no longer takes one of its family's running slots.
            settle_parent(self.ctx, self.claimed.parent_id)
        logger.info("job %s paused", job_id)

    def fail_or_retry(self, failure: JobFailure) -> None:
        """Retry a transient failure later (keeping the work directory), else fail."""
        settings = self.ctx.settings
        error = JobError(code=failure.code, message=failure.message)
        if failure.code == "throttled":
            # Whether or not this job runs again, the route is spared for a while.
            cooldown = settings.breaker_cooldown_seconds
            routes.rest(
                self.ctx.redis, self.route, cooldown_seconds=cooldown, reason=failure.message
            )
        if not failure.retryable or self.claimed.retries >= settings.max_retries:
            self.finish(JobStatus.FAILED, error=error)
            logger.info("job %s failed: %s (%s)", self.claimed.id, failure.code, failure.message)
            return
        delay = backoff_seconds(
            self.claimed.retries,
            base=settings.retry_backoff_seconds,
            cap=settings.retry_backoff_max_seconds,
        )
        if failure.code == "throttled":
            delay = self._after_rest(delay)
        due = utcnow() + dt.timedelta(seconds=delay)
        if run_db(self.ctx, repository.schedule_retry, self.claimed.id,
               worker_id=self.worker_id, due=due, error=error):  # fmt: skip
            self.ctx.enqueue(self.claimed.id, delay, self.claimed.priority)
            self.tracker.publish_waiting(WaitingReason.RETRY_BACKOFF, due, error)
            record_retry(self.ctx.redis, failure.code)
            logger.info("job %s: %s; retry %d in %.0f s", self.claimed.id, failure.code,
                        self.claimed.retries + 1, delay)  # fmt: skip

    def _after_rest(self, delay: float) -> float:
        """After a route was put to rest: the job goes next through another route, soon, or
        waits for the first one to wake when all rest."""
        states = routes.route_states(self.ctx.redis, self.ctx.settings)
        if not routes.all_resting(states):
            return ROUTE_SWITCH_SECONDS
        return max(delay, routes.earliest_wake(states))

    def hand_over(self, files: list[JobFile], *, details: dict[str, Any]) -> bool:
        """The media is stored: record it and send the job to the transcription queue,
        still processing (False when this worker no longer holds it)."""
        figures = self.tracker.db_fields()
        fields = {name: figures[name] for name in ("progress", "downloaded_bytes", "total_bytes")}
        handed = run_db(self.ctx, repository.hand_over_for_transcription, self.claimed.id,
                        worker_id=self.worker_id, files=files,
                        fields={**fields, "details": details})  # fmt: skip
        if not handed:
            return False
        self.stored.clear()  # recorded: the job's files now, whatever the recognition does
        self.ctx.enqueue_transcription(self.claimed.id, 0)
        event = events.status_event(self.claimed.id, JobStatus.PROCESSING, fields["progress"],
                                    parent_id=self.claimed.parent_id)  # fmt: skip
        events.publish(
            self.ctx.redis,
            event.model_copy(update={"type": "stage", "stage": JobStage.TRANSCRIBING}),
        )
        return True

    def finish(
        self,
        status: JobStatus,
        *,
        error: JobError | None = None,
        files: list[JobFile] | None = None,
        details: dict[str, Any] | None = None,
        transcripts: dict[str, list[Cue]] | None = None,
    ) -> bool:
        """End the job (False when this worker no longer holds it)."""
        figures = self.tracker.db_fields()
        fields: dict[str, Any] = {
            "next_attempt_at": None,
            # The row ends with the figures of the last event, not of the last heartbeat.
            **{name: figures[name] for name in ("progress", "downloaded_bytes", "total_bytes")},
        }
        if details is not None:
            fields["details"] = details
        if status is JobStatus.COMPLETED:
            fields |= {"progress": 100.0, "error_code": None, "error_message": None}
            fields["pause_requested"] = False  # asked while its files were stored: too late
        run = RunFigures(
            duration=(utcnow() - self.claimed.started_at).total_seconds(),
            downloaded_bytes=figures["downloaded_bytes"] or 0,
            stored_bytes=sum(stored.size for stored in files or ()),
        )
        ending = run_db(
            self.ctx,
            end_job,
            worker_effects(self.ctx),
            self.claimed.id,
            status=status,
            expected=held_by(self.worker_id),
            error=error,
            fields=fields,
            files=files or (),
            transcripts=transcripts,
            run=run,
        )
        return ending is not None


def _store_all(
    storage: StorageHandler,
    claimed: ClaimedJob,
    result: DownloadResult,
    stored: list[StoredObject],
    tracker: ProgressTracker,
    keeper: LeaseKeeper,
) -> list[JobFile]:
    """Move the results into storage; the rows are written when the job completes. A file
    the job already holds intact is left as it is (a retry re-fetches only damaged files)."""
    total = sum(f.path.stat().st_size for f in result.files) or 1
    moved = 0
    files: list[JobFile] = []
    for item in result.files:
        keeper.check()
        size = item.path.stat().st_size
        key = build_key(str(claimed.id), item.path.name)
        if key in claimed.intact_keys:
            item.path.unlink()
            moved += size
            continue
        try:
            obj = storage.store(
                item.path, key, media_type=media_type_for(item.format), digest=item.digest
            )
        except StorageUnavailable as exc:
            raise JobFailure(str(exc), code="storage_unavailable", retryable=True) from exc
        stored.append(obj)
        files.append(
            JobFile(
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
    if not run_db(ctx, repository.record_metadata, job_id, worker_id=worker_id, fields=fields):
        raise LeaseLost()
