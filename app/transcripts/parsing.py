"""Read caption tracks as yt-dlp saves them from YouTube (json3, srv3/2/1, WebVTT, SRT) into clean
cues."""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import pysrt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from app.transcripts.cleaning import derolled, normalized, spread_words
from app.transcripts.cues import Cue, Word
from app.transcripts.timedtext import TimedTextError, legacy_cues, parse_document, srv3_paragraphs

SUPPORTED_EXTENSIONS = frozenset({".json3", ".srv3", ".srv2", ".srv1", ".vtt", ".srt"})
# The line terminators of WebVTT (str.splitlines also breaks on U+2028 and others).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class CaptionParseError(ValueError):
    """The caption track is corrupt or not in the format its name says."""


class UnsupportedCaptionFormat(ValueError):
    """The caption track's file extension is not one this module reads."""


def parse_track(path: Path, *, auto: bool) -> list[Cue]:
    """Clean cues of the caption file at `path`, by its extension.

    `auto` marks YouTube's speech-recognition captions, which are de-rolled.
    """
    extension = path.suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise UnsupportedCaptionFormat(
            f"caption format {extension or path.name!r} is not supported"
        )
    text = read_caption_text(path)
    if extension == ".json3":
        return parse_json3(text, auto=auto)
    if extension == ".srv3":
        return parse_srv3(text, auto=auto)
    if extension in (".srv2", ".srv1"):
        return parse_legacy_xml(text)
    if extension == ".vtt":
        return parse_vtt(text, auto=auto)
    return parse_srt(text, auto=auto)


def read_caption_text(path: Path) -> str:
    """The file's text: UTF-8, or UTF-16 when it starts with that byte order mark."""
    data = path.read_bytes()
    try:
        if data.startswith(_UTF16_BOMS):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaptionParseError("the caption file is not UTF-8 text") from exc


def parse_vtt(text: str, *, auto: bool) -> list[Cue]:
    """Clean cues of a WebVTT document; rolling auto-captions are de-rolled."""
    cues = vtt_cues(text)
    return normalized(derolled(cues) if auto else cues)


def parse_srt(text: str, *, auto: bool = False) -> list[Cue]:
    """Clean cues of a SubRip document; rolling auto-captions are de-rolled."""
    cues = srt_cues(text)
    return normalized(derolled(cues) if auto else cues)


def vtt_cues(text: str) -> list[Cue]:
    """The cues of a WebVTT document as written: tags, entities and whitespace kept."""
    try:
        captions = webvtt.from_string(text).captions
    except MalformedFileError as exc:
        raise CaptionParseError("not a WebVTT file: it does not start with WEBVTT") from exc
    except MalformedCaptionError as exc:
        raise CaptionParseError(f"malformed WebVTT cue: {exc}") from exc
    # webvtt-py skips a cue it cannot read; a timing line that yielded no cue means the
    # file is corrupt (truncated, bad timestamp), and a silent gap would hide that.
    timing_lines = sum("-->" in line for line in _LINE_BREAK.split(text))
    if len(captions) < timing_lines:
        unread = timing_lines - len(captions)
        raise CaptionParseError(f"{unread} of {timing_lines} WebVTT cues are malformed")
    return [
        Cue(
            caption.start_time.in_milliseconds() / 1000,
            caption.end_time.in_milliseconds() / 1000,
            caption.raw_text,
        )
        for caption in captions
    ]


def srt_cues(text: str) -> list[Cue]:
    """The cues of a SubRip document as written: tags, entities and whitespace kept."""
    try:
        items = pysrt.from_string(text.removeprefix("\ufeff"), error_handling=pysrt.ERROR_RAISE)
    except pysrt.Error as exc:
        # With ERROR_RAISE pysrt puts the index of the line ending the cue first.
        line = exc.args[0] + 1 if exc.args and isinstance(exc.args[0], int) else "?"
        raise CaptionParseError(f"malformed SubRip cue ending at line {line}") from exc
    return [Cue(item.start.ordinal / 1000, item.end.ordinal / 1000, item.text) for item in items]


@dataclass(frozen=True, slots=True)
class _Json3Event:
    start_ms: int
    end_ms: int
    text: str
    # (start in ms, text) per segment, for speech-recognition events with word offsets
    segments: tuple[tuple[int, str], ...] = ()


def parse_srv3(text: str, *, auto: bool) -> list[Cue]:
    """Clean cues of YouTube's srv3 XML: read as json3 is, `<s>` spans being its segments."""
    try:
        paragraphs = srv3_paragraphs(parse_document(text))
    except TimedTextError as exc:
        raise CaptionParseError(str(exc)) from exc
    events = sorted(
        (
            _Json3Event(
                paragraph.start_ms,
                paragraph.end_ms,
                "\n" if paragraph.appended else paragraph.text,
                ()
                if paragraph.appended
                else paragraph.spans or ((paragraph.start_ms, paragraph.text),),
            )
            for paragraph in paragraphs
        ),
        key=lambda event: event.start_ms,
    )
    return _json3_cues(events, auto=auto)


def parse_legacy_xml(text: str) -> list[Cue]:
    """Clean cues of srv2 or srv1 XML. Speech-recognition tracks in these formats hold one
    line per cue, overlapping the next; clipping the overlaps is all they need."""
    try:
        cues = legacy_cues(parse_document(text))
    except TimedTextError as exc:
        raise CaptionParseError(str(exc)) from exc
    return normalized(cues)


def parse_json3(text: str, *, auto: bool) -> list[Cue]:
    """Clean cues of YouTube's json3 captions.

    A manual event is one cue. A speech-recognition event is one spoken line whose display
    window outlasts it, so it ends where the window's next event (often a line-break
    append) starts.
    """
    return _json3_cues(_json3_events(text), auto=auto)


def _json3_cues(events: list[_Json3Event], *, auto: bool) -> list[Cue]:
    cues = (
        _spoken_lines(events)
        if auto
        else [Cue(event.start_ms / 1000, event.end_ms / 1000, event.text) for event in events]
    )
    return normalized(cues, markup=False)


def _spoken_lines(events: list[_Json3Event]) -> list[Cue]:
    lines: list[Cue] = []
    for index, event in enumerate(events):
        if not event.text.strip():
            continue
        later = (other.start_ms for other in events[index + 1 :] if other.start_ms > event.start_ms)
        end_ms = min(event.end_ms, next(later, event.end_ms))
        lines.append(
            Cue(
                event.start_ms / 1000,
                end_ms / 1000,
                event.text,
                timed_words(event.segments, end_ms),
            )
        )
    return lines


def timed_words(segments: Sequence[tuple[int, str]], end_ms: int) -> tuple[Word, ...]:
    """Words from (start in ms, text) segments of one line ending at `end_ms`: each lasts
    until the next starts. Segments holding several words share their time by length."""
    words: list[Word] = []
    if not segments:
        return ()
    # A segment without an offset (seen in real tracks) continues the one before it.
    starts = list(accumulate((start for start, _ in segments), max))
    segments = [(start, text) for start, (_, text) in zip(starts, segments, strict=True)]
    bounds = [*(start for start, _ in segments[1:]), end_ms]
    for (start, text), until in zip(segments, bounds, strict=True):
        words.extend(spread_words(text, start / 1000, max(until, start) / 1000, markup=False))
    return tuple(words)


def _json3_events(text: str) -> list[_Json3Event]:
    try:
        document = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise CaptionParseError(f"not valid json3: {exc}") from exc
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list):
        raise CaptionParseError("not json3 captions: there is no list of events")
    parsed = (_json3_event(event, index) for index, event in enumerate(events))
    return sorted(
        (event for event in parsed if event is not None), key=lambda event: event.start_ms
    )


def _json3_event(event: object, index: int) -> _Json3Event | None:
    if not isinstance(event, dict):
        raise CaptionParseError(f"json3 event {index} is not an object")
    segments = event.get("segs")
    if segments is None:
        return None  # window definitions and style changes carry no text
    if not isinstance(segments, list):
        raise CaptionParseError(f"json3 event {index} has invalid segs")
    start_ms = _json3_milliseconds(event, "tStartMs", index)
    end_ms = start_ms + _json3_milliseconds(event, "dDurationMs", index)
    texts = _json3_texts(segments, index)
    offsets = [
        _json3_milliseconds(segment, "tOffsetMs", index) if isinstance(segment, dict) else 0
        for segment in segments
    ]
    timed = tuple((start_ms + offset, text) for offset, text in zip(offsets, texts, strict=True))
    return _Json3Event(start_ms, end_ms, "".join(texts), timed)


def _json3_milliseconds(event: dict[str, object], key: str, index: int) -> int:
    value = event.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaptionParseError(f"json3 event {index} has an invalid {key}: {value!r}")
    if value < 0:
        raise CaptionParseError(f"json3 event {index} has a negative {key}: {value!r}")
    return round(value)


def _json3_texts(segments: list[object], index: int) -> list[str]:
    texts = [segment.get("utf8", "") if isinstance(segment, dict) else None for segment in segments]
    if not all(isinstance(text, str) for text in texts):
        raise CaptionParseError(f"json3 event {index} has a segment without text")
    return [str(text) for text in texts]
