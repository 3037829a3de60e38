from __future__ import annotations

import enum

from pydantic import BaseModel


class TranscriptFormat(enum.StrEnum):
    TXT = "txt"
    SRT = "srt"
    VTT = "vtt"
    JSON = "json"


class CueOut(BaseModel):
    start: float
    end: float
    text: str
