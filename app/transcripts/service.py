"""API side: serve a job's stored transcript in a language and format.

A format the job stored is served as written; any other is made from the best timed file
the job has (json, which keeps word timings, then vtt, then srt).
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio

from app.jobs.models import FileKind, Job, JobFile
from app.storage.base import StorageHandler
from app.transcripts.conversion import TrackStyle, render
from app.transcripts.cues import Cue
from app.transcripts.exceptions import TranscriptNotFound, TranscriptOptionsInvalid
from app.transcripts.schemas import ChunkOut, CueOut, SubtitleFormat, TranscriptFormat
from app.transcripts.writers import link_base, parse_stored, to_chunks, to_json

# Stored files that keep timings, best first.
_TIMED_SOURCES = ("json", "vtt", "srt")
DEFAULT_CHUNK_SECONDS = 60.0


@dataclass(frozen=True)
class TranscriptRequest:
    language: str | None
    format: TranscriptFormat
    max_seconds: float | None = None
    max_words: int | None = None
    drop_sound_labels: bool = False

    def check(self) -> None:
        sized = self.max_seconds is not None or self.max_words is not None
        if sized and self.format is not TranscriptFormat.CHUNKS:
            raise TranscriptOptionsInvalid()


def _transcript_files(job: Job, language: str | None) -> list[JobFile]:
    subtitles = [f for f in job.files if f.kind is FileKind.SUBTITLE]
    if language is None and subtitles:
        language = subtitles[0].language
    return [f for f in subtitles if f.language == language]


def stored_as_is(job: Job, request: TranscriptRequest) -> JobFile | None:
    """The stored file to serve unchanged, when the job wrote the asked format."""
    if request.format in (TranscriptFormat.JSON, TranscriptFormat.CHUNKS):
        return None
    if request.drop_sound_labels and request.format in (TranscriptFormat.TXT, TranscriptFormat.MD):
        return None  # the stored text keeps them unless the job asked otherwise
    files = _transcript_files(job, request.language)
    return next((f for f in files if f.format == request.format.value), None)


def timed_source(job: Job, request: TranscriptRequest) -> JobFile:
    """The stored file the asked format is made from."""
    files = _transcript_files(job, request.language)
    for ext in _TIMED_SOURCES:
        for stored in files:
            if stored.format == ext:
                return stored
    available = sorted(
        {f"{f.language}/{f.format}" for f in job.files if f.kind is FileKind.SUBTITLE}
    )
    raise TranscriptNotFound(
        f"No {request.format} transcript for language {request.language or '(any)'}; "
        f"the job has: {', '.join(available) or 'none'}."
    )


async def read_text(storage: StorageHandler, stored: JobFile) -> str:
    data = await anyio.to_thread.run_sync(storage.read, stored.storage_key)
    return data.decode("utf-8")


def as_cues(cues: list[Cue]) -> list[CueOut]:
    return [CueOut.model_validate(cue) for cue in to_json(cues)]


def cues_of(stored: JobFile, text: str) -> list[Cue]:
    return parse_stored(text, stored.format)


def as_chunks(job: Job, cues: list[Cue], request: TranscriptRequest) -> list[ChunkOut]:
    seconds = request.max_seconds
    if seconds is None and request.max_words is None:
        seconds = DEFAULT_CHUNK_SECONDS
    pieces = to_chunks(
        cues,
        link_base(job.video_id, job.url),
        max_seconds=seconds,
        max_words=request.max_words,
        drop_sound_labels=request.drop_sound_labels,
    )
    return [ChunkOut.model_validate(piece) for piece in pieces]


def as_text(job: Job, cues: list[Cue], request: TranscriptRequest) -> str:
    style = TrackStyle(
        formats=[],
        drop_sound_labels=request.drop_sound_labels,
        title=job.title,
        page_url=job.url,
    )
    return render(
        cues, SubtitleFormat(request.format.value), video_id=job.video_id or "", style=style
    )
