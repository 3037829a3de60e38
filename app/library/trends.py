"""Job figures over time: the UTC buckets of a window and what each one counts.

Pure values, no queries: the repository streams the rows and `Series` folds them in. The
medians are computed here rather than in SQL because SQLite has no percentile function and
both backends must give the same answer; a row of a window costs a few floats, and the
window itself is bounded (`MAX_BUCKETS`).
"""

from __future__ import annotations

import datetime as dt
import enum
import statistics
from collections import Counter
from dataclasses import dataclass, field

from app.library.exceptions import InvalidTimeRange, TooManyBuckets

MAX_BUCKETS = 1000
DEFAULT_SPAN = dt.timedelta(days=30)


class Bucket(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def step(self) -> dt.timedelta:
        return dt.timedelta(hours=1) if self is Bucket.HOUR else dt.timedelta(days=1)

    def floor(self, moment: dt.datetime) -> dt.datetime:
        """The start of the UTC bucket holding `moment`."""
        utc = moment.astimezone(dt.UTC)
        if self is Bucket.HOUR:
            return utc.replace(minute=0, second=0, microsecond=0)
        return utc.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    """Whole buckets from the one holding `from` to the one holding `to`, both included, so
    the first and last bars of a chart are never a fraction of a bucket."""

    bucket: Bucket
    start: dt.datetime
    count: int
    end: dt.datetime  # exclusive: the start of the bucket after the last

    def starts(self) -> list[dt.datetime]:
        return [self.start + self.bucket.step * n for n in range(self.count)]

    def index(self, moment: dt.datetime) -> int | None:
        """The bucket holding `moment`, None when it falls outside the window."""
        if moment < self.start:
            return None
        n = int((moment - self.start) // self.bucket.step)
        return n if n < self.count else None


def window(
    bucket: Bucket, start: dt.datetime | None, end: dt.datetime | None, *, now: dt.datetime
) -> Window:
    """The window asked for: by default the last 30 days up to now; a time without a zone
    is UTC. Raises when `from` is after `to`, when the window holds more than MAX_BUCKETS,
    or when it reaches outside the years 1 to 9999 (in UTC)."""
    try:
        end = _utc(end) if end is not None else now
        start = _utc(start) if start is not None else end - DEFAULT_SPAN
        if start > end:
            raise InvalidTimeRange()
        first, last = bucket.floor(start), bucket.floor(end)
        count = int((last - first) // bucket.step) + 1
        if count > MAX_BUCKETS:
            raise TooManyBuckets(
                f"From {first.isoformat()} to {end.isoformat()} is {count} {bucket.value} "
                f"buckets; at most {MAX_BUCKETS} can be asked for at once. Narrow the range "
                "or use a larger bucket."
            )
        return Window(bucket, first, count, end=last + bucket.step)
    except OverflowError as exc:
        raise InvalidTimeRange("The range reaches outside the years 1 to 9999 (UTC).") from exc


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@dataclass
class Tally:
    """One bucket's figures (or the whole window's)."""

    created: int = 0
    completed: int = 0
    failed: int = 0
    failed_by_code: Counter[str] = field(default_factory=Counter)
    bytes_stored: int = 0
    speeds: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    @property
    def median_speed(self) -> float | None:
        return statistics.median(self.speeds) if self.speeds else None

    @property
    def median_duration(self) -> float | None:
        return statistics.median(self.durations) if self.durations else None


# A failed job that recorded no code (none should) still counts, under this one.
UNKNOWN_ERROR = "unknown"


@dataclass(frozen=True)
class Ended:
    """A job that completed or failed within the window (what the repository streams)."""

    completed_at: dt.datetime
    succeeded: bool  # completed, or completed and since expired
    error_code: str | None
    started_at: dt.datetime | None
    downloaded_bytes: int | None
    stored_bytes: int
    is_download: bool  # a video (a playlist's entry included), not a parent job


class Series:
    """Folds jobs into the window's buckets and into the window's total."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.buckets = [Tally() for _ in range(window.count)]
        self.total = Tally()

    def _tallies(self, moment: dt.datetime) -> tuple[Tally, ...]:
        n = self.window.index(moment)
        return () if n is None else (self.buckets[n], self.total)

    def add_created(self, created_at: dt.datetime) -> None:
        for tally in self._tallies(created_at):
            tally.created += 1

    def add_ended(self, job: Ended) -> None:
        for tally in self._tallies(job.completed_at):
            if not job.succeeded:
                tally.failed += 1
                tally.failed_by_code[job.error_code or UNKNOWN_ERROR] += 1
                continue
            tally.completed += 1
            tally.bytes_stored += job.stored_bytes
            seconds = run_seconds(job)
            if seconds is None:
                continue
            tally.durations.append(seconds)
            if job.downloaded_bytes:
                tally.speeds.append(job.downloaded_bytes / seconds)


def run_seconds(job: Ended) -> float | None:
    """From the job's first start by a worker to its completion (retries, post-processing
    and storing included); None for a parent job, or a job that never ran."""
    if not job.is_download or job.started_at is None:
        return None
    seconds = (job.completed_at - job.started_at).total_seconds()
    return seconds if seconds > 0 else None
