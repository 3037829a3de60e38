"""API side: serve a job's stored transcript in a language and format."""

from __future__ import annotations

import anyio

from app.jobs.models import FileKind, Job, JobFile
from app.storage.base import StorageHandler
from app.transcripts.exceptions import TranscriptNotFound
from app.transcripts.schemas import CueOut, TranscriptFormat
from app.transcripts.writers import parse_stored, to_json

# JSON is built from a stored file that keeps timings, VTT first.
_TIMED_SOURCES = ("vtt", "srt")


def _transcript_files(job: Job, language: str | None) -> list[JobFile]:
    subtitles = [f for f in job.files if f.kind is FileKind.SUBTITLE]
    if language is None and subtitles:
        language = subtitles[0].language
    return [f for f in subtitles if f.language == language]


def find_transcript(job: Job, language: str | None, fmt: TranscriptFormat) -> JobFile:
    files = _transcript_files(job, language)
    wanted = _TIMED_SOURCES if fmt is TranscriptFormat.JSON else (fmt.value,)
    for ext in wanted:
        for stored in files:
            if stored.format == ext:
                return stored
    available = sorted(
        {f"{f.language}/{f.format}" for f in job.files if f.kind is FileKind.SUBTITLE}
    )
    raise TranscriptNotFound(
        f"No {fmt} transcript for language {language or '(any)'}; "
        f"the job has: {', '.join(available) or 'none'}."
    )


async def read_text(storage: StorageHandler, stored: JobFile) -> str:
    data = await anyio.to_thread.run_sync(storage.read, stored.storage_key)
    return data.decode("utf-8")


def as_cues(stored: JobFile, text: str) -> list[CueOut]:
    return [CueOut.model_validate(cue) for cue in to_json(parse_stored(text, stored.format))]
