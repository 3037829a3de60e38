from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.dependencies import Storage
from app.auth.exceptions import AUTH_ERRORS, InsufficientScope
from app.core.errors import error_responses
from app.jobs.dependencies import ReadableJob
from app.jobs.exceptions import JobNotFound
from app.transcripts import service
from app.transcripts.exceptions import TranscriptNotFound
from app.transcripts.schemas import CueOut, LanguageCode, TranscriptFormat

router = APIRouter(prefix="/api/v1/downloads", tags=["transcripts"])

MEDIA_TYPES = {
    TranscriptFormat.TXT: "text/plain; charset=utf-8",
    TranscriptFormat.SRT: "application/x-subrip; charset=utf-8",
    TranscriptFormat.VTT: "text/vtt; charset=utf-8",
}


@router.get(
    "/{job_id}/transcript",
    response_model=list[CueOut],
    responses={
        200: {
            "description": "The transcript: text for txt, srt and vtt; a list of cues for json.",
            "content": {media_type.split(";")[0]: {} for media_type in MEDIA_TYPES.values()},
        },
        **error_responses(TranscriptNotFound, JobNotFound, InsufficientScope, *AUTH_ERRORS),
    },
    summary="A job's transcript in one language and format",
)
async def get_transcript(
    job: ReadableJob,
    storage: Storage,
    lang: Annotated[LanguageCode | None, Query(description="Defaults to the first.")] = None,
    format: TranscriptFormat = TranscriptFormat.TXT,
) -> Response | list[CueOut]:
    stored = service.find_transcript(job, lang, format)
    text = await service.read_text(storage, stored)
    if format is TranscriptFormat.JSON:
        return service.as_cues(stored, text)
    return Response(text, media_type=MEDIA_TYPES[format])
