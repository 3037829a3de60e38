"""What the library keeps of a completed job: written in the transaction that completes it,
removed with the job or when its files expire."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.jobs.models import Job
from app.library.models import LibraryEntry
from app.transcripts.cues import Cue


def index_job(
    session: Session, job_id: uuid.UUID, transcripts: Mapping[str, Sequence[Cue]]
) -> None:
    """Add (or replace) the job's entry: its title, channel and every transcript's text, with
    `[start, end, text, language]` per cue for timestamps into the transcript."""
    job = session.execute(
        select(Job.api_key_id, Job.title, Job.channel_name).where(Job.id == job_id)
    ).one()
    cues = [
        [cue.start_ms / 1000, cue.end_ms / 1000, cue.text, language]
        for language, track in transcripts.items()
        for cue in track
    ]
    text = "\n".join(cue.text for track in transcripts.values() for cue in track)
    session.execute(delete(LibraryEntry).where(LibraryEntry.job_id == job_id))
    session.add(
        LibraryEntry(
            job_id=job_id,
            api_key_id=job.api_key_id,
            title=job.title or "",
            channel=job.channel_name or "",
            transcript=text,
            cues=cues,
        )
    )


def remove_entries(session: Session, job_ids: Sequence[uuid.UUID]) -> None:
    """Explicitly, not by cascade: SQLite's FTS index follows row deletes through triggers."""
    if job_ids:
        session.execute(delete(LibraryEntry).where(LibraryEntry.job_id.in_(job_ids)))
