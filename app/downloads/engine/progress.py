"""One monotonic 0-100 progress figure per job, across every format and stage: throttled
events (about 4 a second and on every stage change) while the job runs."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.database import utcnow
from app.jobs.events import ProgressEvent
from app.jobs.models import JobStage, JobStatus, WaitingReason
from app.jobs.schemas import JobError

# Share of the bar each stage owns; downloading dominates because it dominates the wait.
# Within a band the figure follows what is measured: the bytes of every format while
# downloading, the finished steps while post-processing, the stored bytes while uploading.
STAGE_BANDS: dict[JobStage, tuple[float, float]] = {
    JobStage.EXTRACTING: (0.0, 2.0),
    JobStage.DOWNLOADING: (2.0, 90.0),
    JobStage.POSTPROCESSING: (90.0, 96.0),
    JobStage.UPLOADING: (96.0, 100.0),
}
STAGE_ORDER = list(STAGE_BANDS)
PUBLISH_INTERVAL_SECONDS = 0.25


@dataclass
class _Part:
    done: int = 0
    total: int | None = None
    finished: bool = False

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        if not self.total:
            return 0.0
        return min(self.done / self.total, 1.0)


class ProgressTracker:
    """Turns per-format byte counts and stage changes into throttled, monotonic events.

    Thread-safe: yt-dlp hooks update it while the lease thread reads it for the database.
    """

    def __init__(
        self,
        job_id: uuid.UUID,
        *,
        publish: Callable[[ProgressEvent], None],
        floor: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        parent_id: uuid.UUID | None = None,
    ) -> None:
        self.job_id = job_id
        self.parent_id = parent_id
        self._publish = publish
        self._clock = clock
        self._lock = threading.Lock()
        self._parts: dict[str, _Part] = {}
        self._last_publish = float("-inf")
        self.stage = JobStage.EXTRACTING
        self.stage_version = 0
        self.progress = floor
        self.speed: float | None = None
        self.eta: int | None = None
        # Below 1 when a later step (speech recognition) owns the rest of the bar.
        self._scale = 1.0

    def expect(self, sizes: dict[str, int | None]) -> None:
        """Declare the parts (format ids) the download consists of, with sizes when known."""
        with self._lock:
            self._parts = {part_id: _Part(total=size) for part_id, size in sizes.items()}

    def leave_room(self, share: float) -> None:
        """Keep the last `share` of the bar for work after this run (speech recognition):
        the stages' bands are compressed into what is left."""
        with self._lock:
            self._scale = 1.0 - max(0.0, min(share, 1.0))

    def set_stage(self, stage: JobStage) -> None:
        """Move forward to `stage` (a request to go back is ignored) and publish at once."""
        with self._lock:
            if STAGE_ORDER.index(stage) <= STAGE_ORDER.index(self.stage):
                return
            self.stage = stage
            self.stage_version += 1
            self.speed = self.eta = None
            self._raise_to(STAGE_BANDS[stage][0])
            event = self._event("stage")
            self._last_publish = self._clock()
        self._publish(event)

    def update_part(
        self, part_id: str, *, done: int, total: int | None, speed: float | None, finished: bool
    ) -> None:
        with self._lock:
            part = self._parts.setdefault(part_id, _Part())
            part.done = max(part.done, done)
            part.total = total or part.total
            part.finished = part.finished or finished
            self.speed = speed
            # A format finishing after post-processing began still counts as downloading.
            self._raise_to(_band_position(JobStage.DOWNLOADING, self._download_fraction()))
            self.eta = self._eta()
            event = self._due_event(force=finished)
        if event is not None:
            self._publish(event)

    def advance(self, fraction: float) -> None:
        """Progress within the current stage (for stages without byte counts, like uploading)."""
        with self._lock:
            self._raise_to(_band_position(self.stage, max(0.0, min(fraction, 1.0))))
            event = self._due_event(force=fraction >= 1.0)
        if event is not None:
            self._publish(event)

    def publish_status(self, status: JobStatus, error: JobError | None = None) -> None:
        with self._lock:
            if status is JobStatus.COMPLETED:
                self.progress = 100.0
            event = self._event("status", status=status, error=error)
        self._publish(event)

    def publish_waiting(
        self, reason: WaitingReason, retry_at: dt.datetime | None, error: JobError | None = None
    ) -> None:
        """The job is queued again and why (a retry's backoff, a pause)."""
        with self._lock:
            event = self._event("status", status=JobStatus.QUEUED, error=error)
        self._publish(event.model_copy(update={"waiting_reason": reason, "retry_at": retry_at}))

    def db_fields(self) -> dict[str, Any]:
        with self._lock:
            done, total = self._byte_counts()
            return {
                "stage": self.stage,
                "progress": round(self.progress, 1),
                "downloaded_bytes": done,
                "total_bytes": total,
                "speed": self.speed,
                "eta": self.eta,
            }

    # -- helpers; callers hold the lock --------------------------------------------------

    def _raise_to(self, value: float) -> None:
        self.progress = max(self.progress, min(value * self._scale, 100.0))

    def _download_fraction(self) -> float:
        """Bytes done over bytes expected, across every format: a large video and a small
        audio part do not count the same. A part of unknown size weighs as much as the
        known ones on average (all the same when none is known)."""
        parts = list(self._parts.values())
        if not parts:
            return 0.0
        known = [p.total for p in parts if p.total]
        typical = sum(known) / len(known) if known else 1.0
        weights = [p.total or typical for p in parts]
        return sum(p.fraction * w for p, w in zip(parts, weights, strict=True)) / sum(weights)

    def _byte_counts(self) -> tuple[int | None, int | None]:
        if not self._parts:
            return None, None
        done = sum(p.done for p in self._parts.values())
        totals = [p.total for p in self._parts.values()]
        return done, sum(t for t in totals if t) if all(totals) else None

    def _eta(self) -> int | None:
        done, total = self._byte_counts()
        if not self.speed or done is None or total is None:
            return None
        return max(int((total - done) / self.speed), 0)

    def _due_event(self, *, force: bool) -> ProgressEvent | None:
        now = self._clock()
        if not force and now - self._last_publish < PUBLISH_INTERVAL_SECONDS:
            return None
        self._last_publish = now
        return self._event("progress")

    def _event(
        self,
        kind: str,
        *,
        status: JobStatus = JobStatus.PROCESSING,
        error: JobError | None = None,
    ) -> ProgressEvent:
        done, total = self._byte_counts()
        return ProgressEvent.model_validate(
            {
                "type": kind,
                "job_id": self.job_id,
                "parent_id": self.parent_id,
                "status": status,
                "stage": self.stage if status is JobStatus.PROCESSING else None,
                "progress": round(self.progress, 1),
                "downloaded_bytes": done,
                "total_bytes": total,
                "speed": self.speed,
                "eta": self.eta,
                "error": error,
                "at": utcnow(),
            }
        )


def _band_position(stage: JobStage, fraction: float) -> float:
    start, end = STAGE_BANDS[stage]
    return start + (end - start) * fraction
