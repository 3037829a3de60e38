"""Migrations run with the synchronous twin of DATABASE_URL (psycopg or sqlite3)."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from app.auth import models as _auth_models  # noqa: F401  (registers tables)
from app.core.config import get_settings
from app.core.database import Base, create_sync_engine
from app.jobs import models as _job_models  # noqa: F401
from app.library import models as _library_models  # noqa: F401
from app.library.models import is_search_object
from app.subscriptions import models as _subscription_models  # noqa: F401
from app.webhooks import models as _webhook_models  # noqa: F401

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def include_object(
    obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
) -> bool:
    """Compare everything but the full-text search objects, which the models do not hold."""
    table = getattr(obj, "table", None)
    return not is_search_object(name, type_, getattr(table, "name", None))


def _database_url() -> str:
    url: str | None = config.attributes.get("database_url")
    return url or get_settings().database_url


def run_migrations_offline() -> None:
    from app.core.database import sync_url

    context.configure(
        url=sync_url(_database_url()).render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_sync_engine(_database_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                include_object=include_object,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
