"""Row factories: API keys and jobs written the way the app writes them, through its own
service and repository functions, for tests that need rows without going through the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.auth.service import IssuedKey
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import repository as downloads
from app.jobs.models import Job
from tests.support.constants import TEST_KEY_SECRET

# The type of the `make_key` fixture: `make_key(name="test", scopes=None)` returns a secret.
KeyFactory = Callable[..., str]

JOB_URL = "https://youtu.be/x"


def _issue(session: Session, name: str, **options: Any) -> IssuedKey:
    return auth_service.issue_key(
        session, name=name, server_secret=TEST_KEY_SECRET.encode(), **options
    )


def create_key(database_url: str, name: str = "test", **options: Any) -> IssuedKey:
    """Row factory for API keys, through the same service the CLI uses."""
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            return _issue(session, name, **options)
    finally:
        engine.dispose()


def set_job_row(database_url: str, job_id: str, **values: Any) -> None:
    """Change a job's row as a worker (or the API) would have."""
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            session.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(**values))
    finally:
        engine.dispose()


def issue_key(database_url: str, name: str = "test", scopes: list[str] | None = None) -> str:
    """A new key's secret (see create_key)."""
    return create_key(database_url, name, scopes=scopes).secret


def create_job(
    sessions: sessionmaker[Session],
    *,
    api_key_id: uuid.UUID | None = None,
    url: str = JOB_URL,
    options: dict[str, Any] | None = None,
    webhook_url: str | None = None,
    **fields: Any,
) -> uuid.UUID:
    """Row factory for jobs: inserted as the API inserts a submission (`add_submission`:
    queued and dispatched now), then `fields` set on the row, as a worker or an ending would
    have.

    The owner is `api_key_id`, or else a new key named "test" (as create_key issues it).
    """
    with session_scope(sessions) as session:
        owner = api_key_id if api_key_id is not None else _issue(session, "test").api_key.id
        job = insert_submission(
            session, api_key_id=owner, url=url, options=options or {}, webhook_url=webhook_url
        )
        for name, value in fields.items():
            setattr(job, name, value)
        return job.id


def insert_submission(session: Session, **submission: Any) -> Job:
    """A job row written as the API writes a submission, loaded into `session` so a test can
    set what a worker or an ending would have."""
    described = downloads.add_submission(session, **submission)
    job = session.get(Job, described.id)
    assert job is not None
    return job


def one_character_changed(text: str, index: int) -> str:
    """`text` with the character at `index` replaced by another: a fixed replacement would
    leave the text as it was whenever it already held that character there."""
    position = index % len(text)
    other = "B" if text[position] == "A" else "A"
    return text[:position] + other + text[position + 1 :]
