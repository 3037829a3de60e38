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
