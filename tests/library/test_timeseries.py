"""GET /api/v1/stats/timeseries through the in-process API, on SQLite and PostgreSQL.

Jobs are written as the API writes a submission (`add_submission`), then given the times
and endings a worker would have written, so each lands in a known bucket.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.auth.service import IssuedKey
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads.endings import end_job
from app.jobs.models import FileKind, Job, JobFile, JobKind, JobStatus
from tests.support.effects import RecordedEffects
from tests.support.factories import create_key, insert_submission

DAY = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
PATH = "/api/v1/stats/timeseries"


def at(days: int = 0, hours: int = 0, minutes: int = 0, seconds: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


@dataclass
class Jobs:
    """Writes jobs at chosen times, the way the API and a worker write them."""

    engine: Engine
    database_url: str

    @property
    def sessions(self) -> sessionmaker[Session]:
        return sync_sessionmaker(self.engine)

    def key(self, name: str = "reader", scopes: list[str] | None = None) -> IssuedKey:
        return create_key(self.database_url, name, scopes=scopes)

    def job(
        self,
        owner: IssuedKey,
        created: dt.datetime,
        *,
        status: JobStatus = JobStatus.QUEUED,
        ran: float | None = None,
        downloaded: int | None = None,
        file_sizes: Sequence[int] = (),
        error_code: str | None = None,
        kind: JobKind = JobKind.VIDEO,
    ) -> uuid.UUID:
        """A job created at `created`; an ended one ends `ran` seconds after it started, one
        minute after its creation."""
        with session_scope(self.sessions) as session:
            job = insert_submission(
                session, api_key_id=owner.api_key.id, url="https://youtu.be/x", options={}
            )
            job.created_at, job.status, job.kind = created, status, kind
            if status.is_terminal:
                job.started_at = created + dt.timedelta(minutes=1)
                job.completed_at = job.started_at + dt.timedelta(seconds=ran or 1)
                job.downloaded_bytes, job.error_code = downloaded, error_code
            session.add_all(
                JobFile(job_id=job.id, kind=FileKind.VIDEO, format="mp4", size=size,
                        sha256="0" * 64, storage_key=f"{job.id}/{n}.mp4")
                for n, size in enumerate(file_sizes)
            )  # fmt: skip
            return job.id

    def expire(self, job_id: uuid.UUID) -> None:
        """Housekeeping's expiry: the files go, the completion time stays."""
        effects = RecordedEffects(os.environ["REDIS_URL"], Path(tempfile.gettempdir())).effects()
        with session_scope(self.sessions) as session:
            end_job(
                session,
                effects,
                job_id,
                status=JobStatus.EXPIRED,
                expected=Job.status == JobStatus.COMPLETED,
            )


@pytest.fixture
def jobs(database_url: str) -> Iterator[Jobs]:
    """On each backend (with the `client` of the same database)."""
    engine = create_sync_engine(database_url)
    try:
        yield Jobs(engine, database_url)
    finally:
        engine.dispose()


async def timeseries(
    client: httpx.AsyncClient, key: IssuedKey, params: dict[str, Any], expected: int = 200
) -> dict[str, Any]:
    response = await client.get(PATH, params=params, headers={"X-API-Key": key.secret})
    assert response.status_code == expected, response.text
    body: dict[str, Any] = response.json()
    return body


def zero(start: dt.datetime) -> dict[str, Any]:
    return {
        "start": start.isoformat().replace("+00:00", "Z"),
        "created": 0,
        "completed": 0,
        "failed": 0,
        "failed_by_code": {},
        "bytes_stored": 0,
        "median_speed": None,
        "median_duration": None,
    }


def starts(body: dict[str, Any]) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(b["start"]) for b in body["buckets"]]


async def test_daily_buckets_count_created_completed_and_failed_jobs(
    client: httpx.AsyncClient, jobs: Jobs
) -> None:
    key = jobs.key()
    # Day 0: three videos complete (run 10, 20 and 60 s; 100, 200 and 100 bytes a second).
    jobs.job(key, at(hours=1), status=JobStatus.COMPLETED, ran=10, downloaded=1000,
             file_sizes=[700, 300])  # fmt: skip
    jobs.job(key, at(hours=2), status=JobStatus.COMPLETED, ran=20, downloaded=4000,
             file_sizes=[50])  # fmt: skip
    expired = jobs.job(key, at(hours=3), status=JobStatus.COMPLETED, ran=60, downloaded=6000,
                       file_sizes=[999])  # fmt: skip
    jobs.expire(expired)  # still completed on day 0, its files no longer stored
    # Day 0: a playlist completes (no figures of its own), one video still runs.
    jobs.job(key, at(hours=4), status=JobStatus.COMPLETED, ran=500, kind=JobKind.PLAYLIST)
    jobs.job(key, at(hours=5), status=JobStatus.PROCESSING)
    # Day 2: three failures, created on day 1 at 23:58 and failing after midnight.
    for code in ("video_unavailable", "video_unavailable", "network_error"):
        jobs.job(key, at(days=1, hours=23, minutes=58), status=JobStatus.FAILED, ran=120,
                 error_code=code)  # fmt: skip
    # Outside the window.
    jobs.job(key, at(days=-1, hours=23, minutes=59), status=JobStatus.QUEUED)
    jobs.job(key, at(days=4), status=JobStatus.QUEUED)

    body = await timeseries(
        client, key, {"bucket": "day", "from": "2026-03-10T08:00:00Z", "to": "2026-03-13T12:00:00"}
    )

    assert (body["bucket"], body["all_keys"]) == ("day", False)
    assert body["start"] == "2026-03-10T00:00:00Z" and body["end"] == "2026-03-14T00:00:00Z"
    assert starts(body) == [at(days=n) for n in range(4)]
    day0, day1, day2, day3 = body["buckets"]
    assert day0 == {
        **zero(at()),
        "created": 5,
        "completed": 4,
        "bytes_stored": 1050,
        "median_speed": 100.0,
        "median_duration": 20.0,
    }
    assert day1 == {**zero(at(days=1)), "created": 3}
    assert day2 == {
        **zero(at(days=2)),
        "failed": 3,
        "failed_by_code": {"network_error": 1, "video_unavailable": 2},
    }
    assert day3 == zero(at(days=3))
    assert body["totals"] == {
        "created": 8,
        "completed": 4,
        "failed": 3,
        "failed_by_code": {"network_error": 1, "video_unavailable": 2},
        "bytes_stored": 1050,
        "median_speed": 100.0,
        "median_duration": 20.0,
    }


async def test_hourly_buckets_are_utc_and_empty_hours_are_zeros(
    client: httpx.AsyncClient, jobs: Jobs
) -> None:
    key = jobs.key()
    jobs.job(key, at(hours=9, minutes=59, seconds=59))
    jobs.job(key, at(hours=10))
    jobs.job(key, at(hours=12, minutes=30), status=JobStatus.COMPLETED, ran=30, downloaded=300)

    # 11:15 at +02:00 is 09:15 UTC; the window runs to the end of 13:00 UTC.
    body = await timeseries(
        client,
        key,
        {"bucket": "hour", "from": "2026-03-10T11:15:00+02:00", "to": "2026-03-10T13:00:00Z"},
    )

    assert starts(body) == [at(hours=h) for h in range(9, 14)]
    assert [b["created"] for b in body["buckets"]] == [1, 1, 0, 1, 0]
    assert [b["completed"] for b in body["buckets"]] == [0, 0, 0, 1, 0]  # at 12:31:30
    assert body["buckets"][3]["median_speed"] == 10.0
    assert body["buckets"][3]["median_duration"] == 30.0
    assert body["buckets"][2] == zero(at(hours=11))


async def test_the_default_is_the_last_30_days_by_day(
    client: httpx.AsyncClient, jobs: Jobs
) -> None:
    key = jobs.key()
    jobs.job(key, dt.datetime.now(dt.UTC))

    body = await timeseries(client, key, {})

    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert body["bucket"] == "day" and len(body["buckets"]) == 31
    assert starts(body)[0] == today - dt.timedelta(days=30)
    assert starts(body)[-1] == today
    assert body["buckets"][-1]["created"] == 1 and body["totals"]["created"] == 1


async def test_a_key_sees_only_its_own_jobs_and_an_admin_may_see_every_key(
    client: httpx.AsyncClient, jobs: Jobs
) -> None:
    mine, theirs = jobs.key("mine"), jobs.key("theirs")
    admin = jobs.key("admin", scopes=["admin", "downloads:read"])
    jobs.job(mine, at(hours=1), status=JobStatus.COMPLETED, ran=5, file_sizes=[10])
    jobs.job(theirs, at(hours=2), status=JobStatus.FAILED, error_code="video_private")
    jobs.job(theirs, at(hours=3), status=JobStatus.COMPLETED, ran=5, file_sizes=[1 << 40])
    window = {"from": at().isoformat(), "to": at(hours=23).isoformat()}

    own = await timeseries(client, mine, window)
    everyone = await timeseries(client, admin, {**window, "all_keys": "true"})
    admins_own = await timeseries(client, admin, window)
    refused = await timeseries(client, mine, {**window, "all_keys": "true"}, expected=403)

    assert own["all_keys"] is False
    assert own["totals"] == {
        "created": 1,
        "completed": 1,
        "failed": 0,
        "failed_by_code": {},
        "bytes_stored": 10,
        "median_speed": None,  # nothing downloaded: no speed
        "median_duration": 5.0,
    }
    assert everyone["all_keys"] is True
    assert (everyone["totals"]["created"], everyone["totals"]["completed"]) == (3, 2)
    assert everyone["totals"]["failed_by_code"] == {"video_private": 1}
    assert everyone["totals"]["bytes_stored"] == 10 + (1 << 40)
    assert admins_own["totals"]["created"] == 0  # the admin's own jobs by default
    assert refused["error"]["code"] == "insufficient_scope"
    assert "admin" in refused["error"]["message"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-03-11T00:00:00Z", "to": "2026-03-10T23:59:59Z"}, "invalid_time_range"),
        ({"bucket": "hour", "from": "2026-01-01", "to": "2026-03-01"}, "too_many_buckets"),
        ({"bucket": "day", "from": "2020-01-01", "to": "2026-03-01"}, "too_many_buckets"),
        ({"from": "9999-12-31T20:00:00Z", "to": "9999-12-31T23:00:00Z"}, "invalid_time_range"),
        ({"from": "0001-01-01T00:00:00+05:00", "to": "0001-01-02"}, "invalid_time_range"),
        ({"to": "0001-01-05T00:00:00Z"}, "invalid_time_range"),  # 30 days before year 1
        ({"bucket": "week"}, "validation_error"),
        ({"from": "yesterday"}, "validation_error"),
        ({"all_keys": "maybe"}, "validation_error"),
    ],
)
async def test_bad_windows_are_refused_with_a_code(
    client: httpx.AsyncClient, jobs: Jobs, params: dict[str, str], code: str
) -> None:
    body = await timeseries(client, jobs.key(), params, expected=422)
    assert body["error"]["code"] == code, body


async def test_the_largest_window_is_answered(client: httpx.AsyncClient, jobs: Jobs) -> None:
    key = jobs.key()
    jobs.job(key, at(hours=5))
    # 1000 hours, the first holding 05:00.
    window = {"from": at(hours=5).isoformat(), "to": at(hours=1004, minutes=59).isoformat()}
    body = await timeseries(client, key, {"bucket": "hour", **window})
    assert len(body["buckets"]) == 1000 and body["totals"]["created"] == 1


async def test_too_many_buckets_says_how_many(client: httpx.AsyncClient, jobs: Jobs) -> None:
    window = {"bucket": "hour", "from": at().isoformat(), "to": at(hours=1000).isoformat()}
    body = await timeseries(client, jobs.key(), window, expected=422)
    assert "1001 hour buckets" in body["error"]["message"]
    assert "at most 1000" in body["error"]["message"]


async def test_the_read_scope_is_required(client: httpx.AsyncClient, jobs: Jobs) -> None:
    writer = jobs.key("writer", scopes=["downloads:write"])
    anonymous = await client.get(PATH)
    forbidden = await client.get(PATH, headers={"X-API-Key": writer.secret})
    assert anonymous.status_code == 401
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "insufficient_scope"
