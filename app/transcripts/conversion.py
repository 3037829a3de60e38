"""Worker side: turn the caption tracks yt-dlp fetched into clean transcript files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.transcripts.cues import Cue
from app.transcripts.layout import DEFAULT_LIMITS, RETIMED_SOURCES, CueLimits, laid_out
from app.transcripts.parsing import CaptionParseError, UnsupportedCaptionFormat, parse_track
from app.transcripts.planning import CaptionSource, TranscriptPlan
from app.transcripts.schemas import SubtitleFormat
from app.transcripts.writers import link_base, to_json_text, to_markdown, to_srt, to_txt, to_vtt

logger = logging.getLogger(__name__)

# What yt-dlp is asked for, best first: json3 and srv3 keep YouTube's events and word
# timings, so rolling auto-captions can be rebuilt without guessing.
SOURCE_FORMATS = ("json3", "srv3", "vtt", "srv2", "srv1", "srt")
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


@dataclass(frozen=True)
class TrackStyle:
    """How a job wants its transcripts laid out and written."""

    formats: Sequence[SubtitleFormat]
    limits: CueLimits = DEFAULT_LIMITS
    drop_sound_labels: bool = False  # from TXT and Markdown; cues keep them
    title: str | None = None  # the heading of Markdown
    page_url: str = ""  # the video's page, for links to a moment of it when not YouTube


def render(cues: Sequence[Cue], fmt: SubtitleFormat, *, video_id: str, style: TrackStyle) -> str:
    """The text of a transcript file in `fmt`, from laid-out cues."""
    if fmt is SubtitleFormat.SRT:
        return to_srt(cues)
    if fmt is SubtitleFormat.VTT:
        return to_vtt(cues)
    if fmt is SubtitleFormat.TXT:
        return to_txt(cues, drop_sound_labels=style.drop_sound_labels)
    if fmt is SubtitleFormat.JSON:
        return to_json_text(cues)
    return to_markdown(
        cues,
        link_base(video_id, style.page_url),
        title=style.title,
        drop_sound_labels=style.drop_sound_labels,
    )


def write_track(
    cues: Sequence[Cue],
    *,
    language: str,
    source: CaptionSource,
    out_dir: Path,
    video_id: str,
    formats: Sequence[SubtitleFormat] | None = None,
    style: TrackStyle | None = None,
    embed_dir: Path | None = None,
) -> list[Cue]:
    """Lay out clean `cues` of one track and write `<video_id>.<language>.<fmt>` files.

    Speech-recognition tracks (auto, asr) are re-timed from their words; the cue
    boundaries of manual and translated tracks are kept. `style` (or just `formats`) says
    what to write. With `embed_dir`, an `.embed.srt` copy for embedding goes there.
    Returns the cues as written.
    """
    style = style or TrackStyle(formats=formats or list(SubtitleFormat))
    laid = laid_out(cues, retime=source in RETIMED_SOURCES, limits=style.limits)
    for fmt in style.formats:
        target = out_dir / f"{video_id}.{language}.{fmt}"
        target.write_text(render(laid, fmt, video_id=video_id, style=style), encoding="utf-8")
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
    style: TrackStyle,
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
            style=style,
            embed_dir=raw_dir if embed else None,
        )
        languages.append(
            {"language": track.language, "source": track.source, "formats": list(style.formats)}
        )
    summary = {"languages": languages, "unavailable": unavailable, "warnings": warnings}
    return WrittenTranscripts(summary, written)
