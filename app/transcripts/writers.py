"""Write clean cues as SRT, WebVTT, plain text and JSON, and read stored SRT/VTT back."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path

import pysrt
from webvtt import Caption, WebVTT
from webvtt.models import Timestamp

from app.transcripts.cleaning import paragraphs
from app.transcripts.cues import Cue
from app.transcripts.parsing import (
    UnsupportedCaptionFormat,
    read_caption_text,
    srt_cues,
    vtt_cues,
)


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text of `cues`, numbered from 1, with "\\n" line endings."""
    subtitles = pysrt.SubRipFile(
        items=[_subrip_item(number, cue) for number, cue in enumerate(cues, start=1)]
    )
    buffer = io.StringIO()
    subtitles.write_into(buffer, eol="\n")
    return buffer.getvalue()


def _subrip_item(number: int, cue: Cue) -> pysrt.SubRipItem:
    return pysrt.SubRipItem(
        index=number,
        start=pysrt.SubRipTime.from_ordinal(max(cue.start_ms, 0)),
        end=pysrt.SubRipTime.from_ordinal(max(cue.end_ms, 0)),
        text="\n".join(_written_lines(cue)),
    )


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text of `cues`, starting with the WEBVTT header."""
    captions = [
        Caption(
            _vtt_timestamp(cue.start_ms),
            _vtt_timestamp(cue.end_ms),
            # Cue text is markup in WebVTT: a literal "<" or "&" must be escaped.
            [html.escape(line, quote=False) for line in _written_lines(cue)],
        )
        for cue in cues
    ]
    return WebVTT(captions=captions).content


def _vtt_timestamp(milliseconds: int) -> str:
    return str(Timestamp.from_seconds(max(milliseconds, 0) / 1000))


def _written_lines(cue: Cue) -> list[str]:
    # A blank line ends a cue in both formats, so it cannot be written inside one.
    return [line for line in cue.lines if line.strip()]


def to_txt(cues: Sequence[Cue]) -> str:
    """The transcript as prose: a paragraph per pause, separated by blank lines."""
    prose = paragraphs(cues)
    return "\n\n".join(prose) + "\n" if prose else ""


def to_json(cues: Sequence[Cue]) -> list[dict[str, float | str]]:
    """`{"start", "end", "text"}` per cue, times in seconds rounded to the millisecond."""
    return [
        {"start": cue.start_ms / 1000, "end": cue.end_ms / 1000, "text": cue.text} for cue in cues
    ]


def read_stored(path: Path) -> list[Cue]:
    """The cues of an SRT or VTT file written by `to_srt` or `to_vtt`, exactly.

    Raises `CaptionParseError` for a corrupt file, `UnsupportedCaptionFormat` for another
    extension.
    """
    return parse_stored(read_caption_text(path), path.suffix.lower().lstrip("."))


def parse_stored(text: str, extension: str) -> list[Cue]:
    """`read_stored` for text already in memory; `extension` is "srt" or "vtt"."""
    if extension == "srt":
        return srt_cues(text)
    if extension == "vtt":
        return [Cue(cue.start, cue.end, html.unescape(cue.text)) for cue in vtt_cues(text)]
    raise UnsupportedCaptionFormat(f"stored transcripts are .srt or .vtt, not {extension!r}")
