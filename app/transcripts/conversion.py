"""Worker side: turn the caption tracks yt-dlp fetched into clean SRT, VTT and TXT files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.transcripts.cues import Cue
from app.transcripts.layout import RETIMED_SOURCES, laid_out
from app.transcripts.parsing import CaptionParseError, UnsupportedCaptionFormat, parse_track
from app.transcripts.planning import CaptionSource, TranscriptPlan
from app.transcripts.schemas import SubtitleFormat
from app.transcripts.writers import to_srt, to_txt, to_vtt

logger = logging.getLogger(__name__)

WRITERS: dict[SubtitleFormat, Callable[[Sequence[Cue]], str]] = {
    SubtitleFormat.SRT: to_srt,
    SubtitleFormat.VTT: to_vtt,
    SubtitleFormat.TXT: to_txt,
}
# What yt-dlp is asked for, best first: json3 keeps YouTube's events, so rolling
# auto-captions can be rebuilt without guessing.
SOURCE_FORMATS = ("json3", "vtt", "srt")
YTDLP_SUBTITLE_FORMAT = "/".join(SOURCE_FORMATS) + "/best"
EMBED_SUFFIX = ".embed.srt"


def _raw_track(raw_dir: Path, video_id: str, language: str) -> Path | None:
    for ext in SOURCE_FORMATS:
        candidate = raw_dir / f"{video_id}.{language}.{ext}"
        if candidate.is_file():
            return candidate
    return None


@dataclass
class WrittenTranscripts:
    summary: dict[str, Any]  # the job's transcript summary (languages, unavailable, warnings)
    cues: dict[str, list[Cue]] = field(default_factory=dict)  # the clean cues per language


def write_track(
    cues: Sequence[Cue],
    *,
    language: str,
    source: CaptionSource,
    out_dir: Path,
    video_id: str,
    formats: Sequence[SubtitleFormat],
    embed_dir: Path | None = None,
) -> list[Cue]:
    """Lay out clean `cues` of one track and write `<video_id>.<language>.<fmt>` files.

    Speech-recognition tracks (auto, asr) are re-timed from their words; the cue
    boundaries of manual and translated tracks are kept. With `embed_dir`, an
    `.embed.srt` copy for embedding goes there. Returns the cues as written.
    """
    laid = laid_out(cues, retime=source in RETIMED_SOURCES)
    for fmt in formats:
        target = out_dir / f"{video_id}.{language}.{fmt}"
        target.write_text(WRITERS[fmt](laid), encoding="utf-8")
    if embed_dir is not None:
        embed_copy = embed_dir / f"{video_id}.{language}{EMBED_SUFFIX}"
        embed_copy.write_text(to_srt(laid), encoding="utf-8")
    return laid


def write_transcripts(
    plan: TranscriptPlan,
    *,
    raw_dir: Path,
    out_dir: Path,
    video_id: str,
    formats: Sequence[SubtitleFormat],
    embed: bool = False,
) -> WrittenTranscripts:
    """Write `<video_id>.<lang>.<fmt>` files into `out_dir` (and `.embed.srt` copies into
    `raw_dir` for embedding when `embed`)."""
    written: dict[str, list[Cue]] = {}
    languages: list[dict[str, Any]] = []
    unavailable = list(plan.unavailable)
    warnings = list(plan.warnings)
    for track in plan.tracks:
        raw = _raw_track(raw_dir, video_id, track.language)
        try:
            if raw is None:
                raise CaptionParseError("the caption track could not be downloaded")
            cues = parse_track(raw, auto=track.source is not CaptionSource.MANUAL)
            if not cues:
                raise CaptionParseError("the caption track is empty")
        except (CaptionParseError, UnsupportedCaptionFormat) as exc:
            logger.warning("transcript %s skipped: %s", track.language, exc)
            unavailable.append(track.language)
            warnings.append(
                {"code": "transcript_unusable", "language": track.language, "message": str(exc)}
            )
            continue
        written[track.language] = write_track(
            cues,
            language=track.language,
            source=track.source,
            out_dir=out_dir,
            video_id=video_id,
            formats=formats,
            embed_dir=raw_dir if embed else None,
        )
        languages.append(
            {"language": track.language, "source": track.source, "formats": list(formats)}
        )
    summary = {"languages": languages, "unavailable": unavailable, "warnings": warnings}
    return WrittenTranscripts(summary, written)
