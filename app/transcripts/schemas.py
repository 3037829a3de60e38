"""Transcript formats and languages, and the bodies that describe a job's transcripts."""

from __future__ import annotations

import enum
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")


class SubtitleFormat(enum.StrEnum):
    """A transcript file a job writes per language."""

    SRT = "srt"
    VTT = "vtt"
    TXT = "txt"  # paragraphs to read
    JSON = "json"  # cues with word timings when known
    MD = "md"  # Markdown: paragraphs led by timestamp links to the video


DEFAULT_SUBTITLE_FORMATS = (
    SubtitleFormat.SRT,
    SubtitleFormat.VTT,
    SubtitleFormat.TXT,
    SubtitleFormat.JSON,
)


class TranscriptFormat(enum.StrEnum):
    """What the transcript endpoint serves."""

    TXT = "txt"
    SRT = "srt"
    VTT = "vtt"
    JSON = "json"
    MD = "md"
    CHUNKS = "chunks"  # pieces for a language model, each with a deep link


class WordOut(BaseModel):
    start: float
    end: float
    text: str


class CueOut(BaseModel):
    start: float
    end: float
    text: str
    words: list[WordOut] | None = Field(
        default=None, description="Word timings, when the track has them."
    )


class ChunkOut(BaseModel):
    start: float
    end: float
    text: str
    url: str = Field(description="The video at the chunk's start: https://youtu.be/ID?t=S")


def check_language(code: str) -> str:
    if not _LANGUAGE.fullmatch(code):
        raise ValueError(f"{code!r} is not a language code such as 'en' or 'pt-BR'")
    return code


LANGUAGE_PATTERN = f"^{_LANGUAGE.pattern}$"  # for OpenAPI: the same rule as check_language
LanguageCode = Annotated[
    str, Field(json_schema_extra={"pattern": LANGUAGE_PATTERN}), AfterValidator(check_language)
]


class TranscriptTrack(BaseModel):
    language: str
    source: str = Field(description="manual, auto, translated or asr")
    formats: list[str]


class TranscriptWarning(BaseModel):
    code: str
    language: str
    message: str


class TranscriptSummary(BaseModel):
    """What the job got per language, and what it asked for but could not get."""

    languages: list[TranscriptTrack] = Field(default_factory=list)
    unavailable: list[str] = Field(default_factory=list)
    warnings: list[TranscriptWarning] = Field(default_factory=list)
