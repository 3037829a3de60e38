"""Which caption track to fetch for each asked language: manual wins over automatic, machine
translations only when asked for with translate_to."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# YouTube lists the live chat replay of a finished stream among the subtitles.
_NOT_CAPTIONS = frozenset({"live_chat", "rechat"})
# A second key for the original speech-recognition track ("en-orig" beside "en").
_ORIGINAL_SUFFIX = "-orig"


class TranscriptWishes(Protocol):
    """What a download asks of its transcripts (a job's options)."""

    @property
    def include_transcription(self) -> bool: ...
    @property
    def include_auto_captions(self) -> bool: ...
    @property
    def subtitle_languages(self) -> Sequence[str]: ...
    @property
    def wants_all_languages(self) -> bool: ...
    @property
    def translate_to(self) -> str | None: ...


class CaptionSource(enum.StrEnum):
    MANUAL = "manual"
    AUTO = "auto"
    TRANSLATED = "translated"
    ASR = "asr"  # our own speech recognition of the downloaded audio


@dataclass(frozen=True)
class PlannedTrack:
    language: str
    source: CaptionSource


@dataclass
class TranscriptPlan:
    tracks: list[PlannedTrack] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def languages(self) -> list[str]:
        return [track.language for track in self.tracks]


def is_translation(entries: list[dict[str, Any]]) -> bool:
    return any("tlang=" in str(entry.get("url", "")) for entry in entries)


def caption_languages(info: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(manual, automatic, translation) languages a video offers."""
    manual = [lang for lang in info.get("subtitles") or {} if lang not in _NOT_CAPTIONS]
    automatic, translations = [], []
    for lang, entries in (info.get("automatic_captions") or {}).items():
        if is_translation(entries):
            translations.append(lang)
        elif not lang.endswith(_ORIGINAL_SUFFIX):
            automatic.append(lang)
    return manual, automatic, translations


def plan_transcripts(info: dict[str, Any], options: TranscriptWishes) -> TranscriptPlan:
    plan = TranscriptPlan()
    if not options.include_transcription:
        return plan
    manual, automatic, translations = caption_languages(info)
    usable_auto = automatic if options.include_auto_captions else []
    wanted = (
        list(dict.fromkeys([*manual, *usable_auto]))
        if options.wants_all_languages
        else options.subtitle_languages
    )
    for language in wanted:
        if language in manual:
            plan.tracks.append(PlannedTrack(language, CaptionSource.MANUAL))
        elif language in usable_auto:
            plan.tracks.append(PlannedTrack(language, CaptionSource.AUTO))
        else:
            plan.unavailable.append(language)
    target = options.translate_to
    if target and target not in plan.languages:
        if target in translations:
            plan.tracks.append(PlannedTrack(target, CaptionSource.TRANSLATED))
        else:
            plan.warnings.append(
                {
                    "code": "translation_unavailable",
                    "language": target,
                    "message": f"The video offers no translated captions into {target!r}.",
                }
            )
    return plan
