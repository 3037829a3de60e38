"""The lease a worker holds on a running job: a background thread renews it with the job's
progress, and notices a cancel or pause request, a lost lease, the deadline or the worker's
shutdown, for the working thread to act on when it calls `check`."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Self

from sqlalchemy.exc import SQLAlchemyError

from app.core import tracing
from app.core.database import session_scope
from app.downloads import repository
from app.downloads.exceptions import HandBack, JobCanceled, JobPaused, LeaseLost
from app.worker.context import WorkerContext

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5
DB_WRITE_SECONDS = 2.0


class Lease:
    """Renews the lease of `job_id` held by `worker_id` for at most `timeout` seconds.

    Subclasses say what progress to write (`progress_fields`), when to write besides every
    `DB_WRITE_SECONDS` (`write_due`), and what running out of time raises (`timed_out`).
    """

    def __init__(
        self, ctx: WorkerContext, job_id: uuid.UUID, worker_id: str, *, timeout: float
    ) -> None:
        self._ctx = ctx
        self._job_id = job_id
        self._worker_id = worker_id
        self._deadline = time.monotonic() + timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=tracing.untraced(self._loop), name=f"lease-{job_id}", daemon=True
        )
        self._written_at = float("-inf")
        self._hand_back_at: float | None = None
        self.cancel_requested = False
        self.pause_requested = False
        # Cleared once the download is done and its files are being stored: they leave the
        # work directory as they go, so a pause then would lose them; the job completes.
        self.pausable = True
        self.lost = False

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        """Raise in the working thread when the job must stop."""
        if self.lost:
            raise LeaseLost()
        if self.cancel_requested:
            raise JobCanceled()
        if self.pause_requested and self.pausable:
            raise JobPaused()
        if self._hand_back_at is not None and time.monotonic() > self._hand_back_at:
            raise HandBack()
        if time.monotonic() > self._deadline:
            raise self.timed_out()

    def timed_out(self) -> Exception:
        raise NotImplementedError

    def progress_fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def write_due(self) -> bool:
        """Whether to write now although `DB_WRITE_SECONDS` have not passed."""
        return False

    def written(self) -> None:
        """Called after each successful write."""

    def _loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            now = time.monotonic()
            if self._hand_back_at is None and self._ctx.draining():
                # The worker is shutting down: finish within the grace period, or hand back.
                self._hand_back_at = now + self._ctx.settings.worker_shutdown_grace_seconds
            if self.write_due() or now - self._written_at >= DB_WRITE_SECONDS:
                self._write(now)

    def _write(self, now: float) -> None:
        progress = self.progress_fields()
        try:
            with session_scope(self._ctx.sessions) as session:
                state = repository.renew_lease(
                    session, self._job_id, worker_id=self._worker_id, progress=progress
                )
        except SQLAlchemyError as exc:
            # The work goes on; the lease only expires after JOB_LEASE_SECONDS.
            logger.warning("could not renew the lease of job %s: %s", self._job_id, exc)
            return
        self._written_at = now
        self.written()
        self.lost = not state.owned
        self.cancel_requested = state.cancel_requested
        self.pause_requested = state.pause_requested
