"""The counts the quotas are checked against, on both databases: a key's own submissions
(not playlist entries, not other keys' jobs), queued or running, and created in the last
24 hours, each counted up to its cap."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import repository
from app.jobs.models import JobStatus
from tests.support.factories import create_job, create_key

DAY = dt.timedelta(days=1)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_sync_engine(database_url)
    yield sync_sessionmaker(engine)
    engine.dispose()


def counts(sessions: sessionmaker[Session], key_id: uuid.UUID, cap: int = 100) -> tuple[int, int]:
    since = dt.datetime.now(dt.UTC) - DAY
    with session_scope(sessions) as session:
        return repository.submission_counts(
            session, key_id, since=since, active_cap=cap, created_cap=cap
        )


def test_only_the_keys_own_submissions_count(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    key = create_key(database_url, "owner").api_key.id
    other = create_key(database_url, "other").api_key.id
    playlist = create_job(sessions, api_key_id=key, status=JobStatus.PROCESSING)
    create_job(sessions, api_key_id=key, parent_id=playlist)  # an entry: not a submission
    create_job(sessions, api_key_id=key)
    create_job(sessions, api_key_id=key, status=JobStatus.COMPLETED)
    old = dt.datetime.now(dt.UTC) - 2 * DAY
    create_job(sessions, api_key_id=key, status=JobStatus.FAILED, created_at=old)
    create_job(sessions, api_key_id=other)
    # Active: the playlist and the queued video; today: those and the completed one.
    assert counts(sessions, key) == (2, 3)
    assert counts(sessions, uuid.uuid4()) == (0, 0)


def test_each_count_stops_at_its_cap(sessions: sessionmaker[Session], database_url: str) -> None:
    key = create_key(database_url, "busy").api_key.id
    for _ in range(5):
        create_job(sessions, api_key_id=key)
    assert counts(sessions, key, cap=3) == (3, 3)
    assert counts(sessions, key, cap=10) == (5, 5)
