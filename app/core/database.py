"""Engines and sessions: async for the API, sync for workers and the CLI. Queries are
written once against a sync Session; the API runs them through `AsyncSession.run_sync`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
import sqlalchemy.ext.asyncio
from sqlalchemy import CursorResult, DateTime, Engine, Update, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sync_url(database_url: str) -> URL:
    """The synchronous twin of an async DATABASE_URL (asyncpg -> psycopg, aiosqlite -> sqlite)."""
    url = make_url(database_url)
    driver = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}[url.get_backend_name()]
    return url.set(drivername=driver)


def _ensure_sqlite_dir(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets the API read while a worker writes; busy_timeout makes writers queue, not fail."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


# The engine factories are looked up on their modules when an engine is made, not imported
# by name: tracing (`core.tracing`), when on, wraps them there so every engine is traced.


def create_api_engine(database_url: str) -> AsyncEngine:
    create_async_engine = sqlalchemy.ext.asyncio.create_async_engine
    url = make_url(database_url)
    _ensure_sqlite_dir(url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _tune_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def create_sync_engine(database_url: str) -> Engine:
    create_engine = sqlalchemy.create_engine
    url = sync_url(database_url)
    _ensure_sqlite_dir(url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def api_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# A side effect to run once the transaction that asked for it has committed.
AfterCommit = Callable[[], object]
_AFTER_COMMIT = "after_commit"


def after_commit(session: Session | AsyncSession, action: AfterCommit) -> None:
    """Run `action` once this session's transaction has committed; dropped on rollback.

    Whoever owns the transaction runs the actions: `session_scope` right after its commit
    (workers, the CLI), the API's request session after the request's commit.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def take_after_commit(session: Session | AsyncSession) -> list[AfterCommit]:
    actions: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    return actions


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A short unit of work for workers: commit on success, roll back on error, always close;
    after the commit, the actions registered with `after_commit`."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    for action in take_after_commit(session):
        try:
            action()
        except Exception:
            # The change is committed; what failed here is repaired by the reconciler.
            logger.exception("after-commit action failed")


def changed_rows(session: Session, statement: Update) -> int:
    """Run an UPDATE and count the rows it changed: a compare-and-set's verdict."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    if not isinstance(result, CursorResult):
        raise TypeError("an UPDATE returns a CursorResult")
    return result.rowcount
