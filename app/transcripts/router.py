from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.dependencies import Storage
from app.auth.exceptions import AUTH_ERRORS, InsufficientScope
from app.core.errors import error_responses
from app.jobs.dependencies import ReadableJob
from app.jobs.exceptions import JobNotFound
from app.transcripts import service
from app.transcripts.exceptions import TranscriptNotFound, TranscriptOptionsInvalid
from app.transcripts.parsing import CaptionParseError
from app.transcripts.schemas import ChunkOut, CueOut, LanguageCode, TranscriptFormat

router = APIRouter(prefix="/api/v1/downloads", tags=["transcripts"])

MEDIA_TYPES = {
    TranscriptFormat.TXT: "text/plain; charset=utf-8",
    TranscriptFormat.SRT: "application/x-subrip; charset=utf-8",
    TranscriptFormat.VTT: "text/vtt; charset=utf-8",
    TranscriptFormat.MD: "text/markdown; charset=utf-8",
}


@router.get(
    "/{job_id}/transcript",
    response_model=list[CueOut] | list[ChunkOut],
    responses={
        200: {
            "description": (
                "The transcript: text for txt, srt, vtt and md; a list of cues (with word "
                "timings when known) for json; a list of chunks with deep links for chunks."
            ),
            "content": {media_type.split(";")[0]: {} for media_type in MEDIA_TYPES.values()},
        },
        **error_responses(
            TranscriptNotFound,
            TranscriptOptionsInvalid,
            JobNotFound,
            InsufficientScope,
            *AUTH_ERRORS,
        ),
    },
    summary="A job's transcript in one language and format",
)
async def get_transcript(
    job: ReadableJob,
    storage: Storage,
    lang: Annotated[LanguageCode | None, Query(description="Defaults to the first.")] = None,
    format: TranscriptFormat = TranscriptFormat.TXT,
    max_seconds: Annotated[
        float | None, Query(ge=5, le=3600, description="chunks: longest chunk (default 60).")
    ] = None,
    max_words: Annotated[
        int | None, Query(ge=10, le=10_000, description="chunks: most words in a chunk.")
    ] = None,
    drop_sound_labels: Annotated[
        bool, Query(description="Leave [Music] and the like out of txt, md and chunks.")
    ] = False,
) -> Response | list[CueOut] | list[ChunkOut]:
    request = service.TranscriptRequest(lang, format, max_seconds, max_words, drop_sound_labels)
    request.check()
    stored = service.stored_as_is(job, request)
    if stored is not None:
        return Response(await service.read_text(storage, stored), media_type=MEDIA_TYPES[format])
    source = service.timed_source(job, request)
    try:
        cues = service.cues_of(source, await service.read_text(storage, source))
    except CaptionParseError as exc:
        raise TranscriptNotFound(f"The stored transcript cannot be read: {exc}") from exc
    if format is TranscriptFormat.JSON:
        return service.as_cues(cues)
    if format is TranscriptFormat.CHUNKS:
        return service.as_chunks(job, cues, request)
    return Response(service.as_text(job, cues, request), media_type=MEDIA_TYPES[format])
