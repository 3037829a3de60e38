"""Write clean cues as SRT, WebVTT, plain text, JSON, Markdown and chunks, and read them back."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pysrt
from webvtt import Caption, WebVTT
from webvtt.models import Timestamp

from app.transcripts.cues import Cue, Word
from app.transcripts.parsing import (
    CaptionParseError,
    UnsupportedCaptionFormat,
    read_caption_text,
    srt_cues,
    vtt_cues,
)
from app.transcripts.prose import chunks, paragraphs


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


def to_txt(cues: Sequence[Cue], *, drop_sound_labels: bool = False) -> str:
    """The transcript as prose: paragraphs separated by blank lines."""
    prose = paragraphs(cues, drop_sound_labels=drop_sound_labels)
    return "\n\n".join(passage.text for passage in prose) + "\n" if prose else ""


def to_json(cues: Sequence[Cue]) -> list[dict[str, Any]]:
    """`{"start", "end", "text", "words"?}` per cue, times in seconds to the millisecond;
    `words` (`{"start", "end", "text"}` each) when the track has word timings."""
    return [_cue_json(cue) for cue in cues]


def _cue_json(cue: Cue) -> dict[str, Any]:
    body: dict[str, Any] = {
        "start": cue.start_ms / 1000,
        "end": cue.end_ms / 1000,
        "text": cue.text,
    }
    if cue.words:
        body["words"] = [
            {
                "start": round(word.start * 1000) / 1000,
                "end": round(word.end * 1000) / 1000,
                "text": word.text.strip(),
            }
            for word in cue.words
        ]
    return body


def to_json_text(cues: Sequence[Cue]) -> str:
    """`to_json` as the text of a stored `.json` transcript file."""
    return json.dumps(to_json(cues), ensure_ascii=False, indent=1) + "\n"


def from_json_text(text: str) -> list[Cue]:
    """The cues of a stored `.json` transcript file, words included."""
    try:
        items = json.loads(text)
        return [
            Cue(
                float(item["start"]),
                float(item["end"]),
                str(item["text"]),
                tuple(
                    # Words after the first of a line had a space before them.
                    Word(
                        float(word["start"]),
                        float(word["end"]),
                        (" " if index else "") + word["text"],
                    )
                    for index, word in enumerate(item.get("words", ()))
                ),
            )
            for item in items
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CaptionParseError(f"not a stored JSON transcript: {exc}") from exc


_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")


def link_base(video_id: str | None, page_url: str) -> str:
    """What a number of seconds is appended to for a link to that moment of the video:
    https://youtu.be/ID?t= for YouTube, else the page with a media fragment (#t=)."""
    if video_id and _YOUTUBE_ID.fullmatch(video_id):
        return f"https://youtu.be/{video_id}?t="
    return f"{page_url.partition('#')[0]}#t="


def deep_link(base: str, seconds: float) -> str:
    """The link to the video at `seconds` (whole seconds, as YouTube takes them)."""
    return f"{base}{max(int(seconds), 0)}"


def to_chunks(
    cues: Sequence[Cue],
    link: str,
    *,
    max_seconds: float | None = None,
    max_words: int | None = None,
    drop_sound_labels: bool = False,
) -> list[dict[str, Any]]:
    """The transcript in pieces for a language model: start, end, text and a deep link
    (`link` is a `link_base`)."""
    pieces = chunks(
        cues, max_seconds=max_seconds, max_words=max_words, drop_sound_labels=drop_sound_labels
    )
    return [
        {
            "start": round(piece.start, 3),
            "end": round(piece.end, 3),
            "text": piece.text,
            "url": deep_link(link, piece.start),
        }
        for piece in pieces
    ]


def to_markdown(
    cues: Sequence[Cue],
    link: str,
    *,
    title: str | None = None,
    drop_sound_labels: bool = False,
) -> str:
    """The transcript as Markdown: a heading, then paragraphs led by a timestamp link
    (`link` is a `link_base`)."""
    lines = [f"# {_markdown_text(title)}", ""] if title else []
    for passage in paragraphs(cues, drop_sound_labels=drop_sound_labels):
        stamp = _clock(passage.start)
        lines += [
            f"[{stamp}]({deep_link(link, passage.start)}) {_markdown_text(passage.text)}",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n" if lines else ""


# Characters that would start Markdown syntax inside a paragraph.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|])")


def _markdown_text(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _clock(seconds: float) -> str:
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    return (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60:02d}:{rest % 60:02d}"
    )


def read_stored(path: Path) -> list[Cue]:
    """The cues of an SRT or VTT file written by `to_srt` or `to_vtt`, exactly.

    Raises `CaptionParseError` for a corrupt file, `UnsupportedCaptionFormat` for another
    extension.
    """
    return parse_stored(read_caption_text(path), path.suffix.lower().lstrip("."))


def parse_stored(text: str, extension: str) -> list[Cue]:
    """`read_stored` for text already in memory; `extension` is "json", "srt" or "vtt"."""
    if extension == "json":
        return from_json_text(text)
    if extension == "srt":
        return srt_cues(text)
    if extension == "vtt":
        return [Cue(cue.start, cue.end, html.unescape(cue.text)) for cue in vtt_cues(text)]
    raise UnsupportedCaptionFormat(f"stored transcripts are .json, .srt or .vtt, not {extension!r}")
