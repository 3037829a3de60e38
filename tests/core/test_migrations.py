"""Alembic builds the schema from empty and takes it down again, on both databases, and the
result matches the ORM models exactly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.core.database import Base, create_sync_engine
from app.core.migrations import head_revision
from tests.support.databases import DatabaseFactory, downgrade, migrate

TABLES = {"api_keys", "jobs", "job_files", "webhook_deliveries", "library_entries"}
# Full-text search structures the migrations make per backend, outside the ORM models.
SEARCH_OBJECTS = ("library_fts", "ix_library_search", "Column('search'")


def _search_only(difference: object) -> bool:
    return any(name in repr(difference) for name in SEARCH_OBJECTS)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_from_empty_matches_models_and_downgrade_removes_everything(
    backend: str, db_factory: DatabaseFactory
) -> None:
    url = db_factory.empty_postgres() if backend == "postgresql" else db_factory.empty_sqlite()
    engine = create_sync_engine(url)
    try:
        migrate(url)
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= TABLES
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == head_revision()
            differences = [
                d for d in compare_metadata(context, Base.metadata) if not _search_only(d)
            ]
            assert differences == [], "models and migrations differ"

        downgrade(url)
        with engine.connect() as connection:
            assert not TABLES & set(inspect(connection).get_table_names())

        migrate(url)  # and back up again: downgrade leaves nothing behind that blocks it
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= TABLES
    finally:
        engine.dispose()


async def test_the_api_refuses_to_start_on_an_unmigrated_database(
    db_factory: DatabaseFactory, tmp_path: object
) -> None:
    from app.core.config import Settings
    from app.core.migrations import SchemaOutdated
    from app.main import create_app

    settings = Settings(_env_file=None, database_url=db_factory.empty_sqlite())
    app = create_app(settings)
    with pytest.raises(SchemaOutdated, match="alembic upgrade head"):
        async with app.router.lifespan_context(app):
            pass
