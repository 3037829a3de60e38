"""The integrity scrub: every stored file of an ended job is checked against the size and
SHA-256 recorded when it was stored, and marked `corrupt` or `missing` when it no longer
matches (or `ok` again when it was restored). A damaged file is refused by the file
endpoint, counted in /metrics (`yds_damaged_files`) and re-fetched by a retry of its job."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from app.core.database import utcnow
from app.jobs.models import FileState
from app.jobs.repository import files_to_check, record_check
from app.storage.base import StorageUnavailable
from app.worker.context import WorkerContext, run_db

logger = logging.getLogger(__name__)

PAGE = 200
# Beat's task is killed after an hour; stop taking new pages before that. The files left
# are the first checked by the next run.
BUDGET_SECONDS = 3000.0


@dataclass
class ScrubReport:
    checked: int = 0
    found: dict[FileState, int] = field(default_factory=dict)
    unavailable: int = 0


def scrub(ctx: WorkerContext, *, budget_seconds: float = BUDGET_SECONDS) -> ScrubReport:
    """Check the files not checked since this run started, page by page, with no database
    session open while storage is read."""
    started, deadline = utcnow(), time.monotonic() + budget_seconds
    report = ScrubReport()
    skipped: set[object] = set()
    while time.monotonic() < deadline:
        page = run_db(ctx, files_to_check, not_checked_since=started, limit=PAGE + len(skipped))
        page = [item for item in page if item.id not in skipped]
        if not page:
            break
        for item in page:
            try:
                found = FileState(
                    ctx.storage.check(item.storage_key, size=item.size, sha256=item.sha256)
                )
            except StorageUnavailable as exc:
                logger.warning("could not check %s: %s", item.storage_key, exc)
                skipped.add(item.id)
                report.unavailable += 1
                continue
            run_db(ctx, record_check, item.id, found, sha256=item.sha256)
            report.checked += 1
            report.found[found] = report.found.get(found, 0) + 1
            if found is not item.state:
                log = logger.warning if found.is_damaged else logger.info
                log("file %s of job %s is %s", item.storage_key, item.job_id, found)
    logger.info(
        "integrity scrub checked %d files: %s", report.checked,
        ", ".join(f"{count} {state}" for state, count in report.found.items()) or "none",
    )  # fmt: skip
    return report
