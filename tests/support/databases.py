"""A fresh, migrated database per test: SQLite files copied from a migrated template and
PostgreSQL databases cloned with CREATE DATABASE ... TEMPLATE (both built by Alembic)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from alembic import command
from app.core.migrations import alembic_config


def migrate(database_url: str, revision: str = "head") -> None:
    config = alembic_config(database_url)
    command.upgrade(config, revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    config = alembic_config(database_url)
    command.downgrade(config, revision)


def _async_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


class DatabaseFactory:
    def __init__(self, *, postgres_dsn: str, workdir: Path) -> None:
        self._dsn = postgres_dsn
        self._workdir = workdir
        self._run = uuid.uuid4().hex[:8]
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_databases: list[str] = []

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(statement)

    def empty_postgres(self) -> str:
        name = f"yds_test_{self._run}_{len(self._pg_databases)}"
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._pg_databases.append(name)
        return _async_url(self._dsn, name)

    def empty_sqlite(self) -> str:
        path = self._workdir / f"empty-{uuid.uuid4().hex}.db"
        return f"sqlite+aiosqlite:///{path}"

    def sqlite(self) -> str:
        if self._sqlite_template is None:
            template = self._workdir / "template.db"
            migrate(f"sqlite+aiosqlite:///{template}")
            self._sqlite_template = template
        path = self._workdir / f"test-{uuid.uuid4().hex}.db"
        shutil.copyfile(self._sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"

    def postgres(self) -> str:
        if self._pg_template is None:
            url = self.empty_postgres()
            migrate(url)
            self._pg_template = url.rsplit("/", 1)[1]
        name = f"yds_test_{self._run}_{len(self._pg_databases)}"
        self._admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self._pg_template)
            )
        )
        self._pg_databases.append(name)
        return _async_url(self._dsn, name)

    def new(self, backend: str) -> str:
        return self.postgres() if backend == "postgresql" else self.sqlite()

    def discard(self, url: str) -> None:
        """Drop a database this factory made, as soon as its test is done: hundreds left for
        the end of the run take minutes to drop on a loaded machine."""
        name = url.rsplit("/", 1)[1]
        if name in self._pg_databases:
            self._drop(name)
            self._pg_databases.remove(name)
        elif url.startswith("sqlite"):
            Path(url.split("///", 1)[1]).unlink(missing_ok=True)

    def drop_all(self) -> None:
        for name in reversed(self._pg_databases):
            self._drop(name)
        self._pg_databases.clear()

    def _drop(self, name: str) -> None:
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
