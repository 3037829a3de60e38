"""The library table: what search looks through for each completed job."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base


class LibraryEntry(Base):
    """What library search looks through for a completed job: its title, channel and
    transcript text, with the cues that give timestamps. PostgreSQL searches it with an
    expression GIN index, SQLite through an FTS5 table kept in step by triggers (both made
    by the migrations)."""

    __tablename__ = "library_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), unique=True
    )
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(Text, default="")
    transcript: Mapped[str] = mapped_column(Text, default="")
    cues: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)


# The full-text search objects the migrations make per backend, which no model describes:
# PostgreSQL's generated `search` column and its GIN index; SQLite's FTS5 table and the
# shadow tables FTS5 keeps beside it (`library_fts_data`, `_idx`, ...).
_SEARCH_TABLE = "library_fts"
_SEARCH_INDEX = "ix_library_search"
_SEARCH_COLUMN = (LibraryEntry.__tablename__, "search")


def is_search_object(name: str | None, type_: str, table_name: str | None) -> bool:
    """True for the search objects, which `alembic check` must leave alone (alembic/env.py):
    they are made by hand in the migrations, and comparing them would ask to drop them."""
    if type_ == "table":
        return name is not None and (name == _SEARCH_TABLE or name.startswith(f"{_SEARCH_TABLE}_"))
    if type_ == "index":
        return name == _SEARCH_INDEX
    if type_ == "column":
        return (table_name, name) == _SEARCH_COLUMN
    return False
